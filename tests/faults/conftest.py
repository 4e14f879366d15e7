"""The fault suite (issue 12): each scenario breaks one thing under a running `civic up`, checks
that /healthz names the fault while it lasts, and ends with tests/faults/stack.assert_recovered.

One file per fault: test_kill.py, test_postgres.py, test_store.py, test_disk.py, test_stale_url.py,
test_poison.py.
A new scenario is one more file using the `stack`
fixture, `feed` and `assert_recovered`.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.faults.stack import Stack
from producers.script import many_tickets

pytestmark = pytest.mark.integration


@pytest.fixture
def events() -> list:
    """A district's org tree and 40 tickets through their whole lifecycle, in intake order."""
    return list(many_tickets(40, prefix="f").events)


@pytest.fixture
def stack(tmp_path: Path):
    started: list[Stack] = []

    def start(data: Path | None = None, **env: str) -> Stack:
        up = Stack(data or tmp_path / "civic-data", tmp_path / f"up{len(started)}.log", **env)
        started.append(up)
        return up

    yield start
    for up in started:
        up.stop()


@pytest.fixture
def mount(tmp_path: Path):
    """A small tmpfs of its own (root only: CI runs as root), remountable read-only."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (CI runs as root)")
    mounted: list[Path] = []

    def make(name: str, size: str) -> Path:
        point = tmp_path / name
        point.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(point)], check=True)
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)
