"""mypy passes on every package of ours, as configured in pyproject.toml ([tool.mypy]: strict for
schemas/ and domain/, check_untyped_defs and warn_unused_ignores everywhere): CI runs it here.

Incremental: mypy keeps its cache in .mypy_cache (git-ignored), so a run after a small change
takes seconds. A failure prints mypy's own report, one line per error.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mypy import api

ROOT = Path(__file__).resolve().parents[2]


def test_mypy_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # [tool.mypy] names the packages relative to the project root
    report, errors, status = api.run(["--config-file", str(ROOT / "pyproject.toml")])
    assert status == 0, f"mypy found errors (run `.venv/bin/mypy` to see them):\n{report}{errors}"
