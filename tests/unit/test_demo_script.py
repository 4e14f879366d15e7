"""scripts/demo's CJK font step: installed where a browser on the machine needs one and apt-get
may be used, otherwise the reason said; nothing done where a font is already there. Run with
stand-ins for the system's commands (PATH holds only them), so nothing is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "demo"


def cjk_font_function() -> str:
    text = SCRIPT.read_text()
    found = re.search(r"^cjk_font\(\) \{\n.*?^\}\n", text, re.S | re.M)
    assert found, "scripts/demo defines cjk_font()"
    return found.group(0)


def run(tmp_path: Path, *, font: bool, browser: bool, apt: bool) -> tuple[str, str]:
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    log = tmp_path / "calls"

    def shim(name: str, body: str) -> None:
        (bin_ / name).write_text(f"#!{shutil.which('bash')}\n{body}\n")
        (bin_ / name).chmod(0o755)

    shim("uname", "echo Linux")
    shim("head", f'exec {shutil.which("head")} "$@"')
    shim("fc-list", "echo 'Noto Sans CJK SC'" if font else "true")
    if browser:
        shim("chromium", "true")
    if apt:
        shim("apt-get", f'echo "apt-get $*" >> {log}')
    shim("sudo", '[[ "$1" == -n ]] && shift; exec "$@"')
    env = {"PATH": str(bin_), "HOME": str(tmp_path)}
    done = subprocess.run([shutil.which("bash") or "bash", "-c", cjk_font_function() + "cjk_font"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stderr, log.read_text() if log.exists() else ""


@pytest.mark.skipif(os.name != "posix", reason="a bash script")
def test_the_font_is_installed_where_a_browser_here_needs_it(tmp_path: Path) -> None:
    said, calls = run(tmp_path, font=False, browser=True, apt=True)
    assert "installing fonts-noto-cjk" in said and "apt-get install -y -qq --no-install-recommends fonts-noto-cjk" in calls


@pytest.mark.parametrize("case, expected", [
    (dict(font=True, browser=True, apt=True), ""),
    (dict(font=False, browser=False, apt=True), "no CJK font here"),
    (dict(font=False, browser=True, apt=False), "not installing a CJK font: no apt-get on this system"),
])
def test_otherwise_nothing_is_installed_and_the_reason_is_said(tmp_path: Path, case: dict, expected: str) -> None:
    said, calls = run(tmp_path, **case)
    assert calls == ""
    assert (expected in said) if expected else said == ""
