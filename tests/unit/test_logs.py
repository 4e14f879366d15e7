"""Rate-limited warnings: one line per key and interval, and the next line says what was held back."""

from __future__ import annotations

import logging

import pytest

from adapters.logs import RateLimited


def test_a_repeated_warning_is_logged_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    quiet = RateLimited(logging.getLogger("test.quiet"), interval=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING):
        for i in range(50):  # five a second for ten seconds
            now[0] = i * 0.2
            quiet.warning("missing", "intake %d missing", i)
        quiet.warning("other", "another key is not held back")
        now[0] = 10.0
        quiet.warning("missing", "intake %d missing", 50)
    assert [r.getMessage() for r in caplog.records] == [
        "intake 0 missing", "another key is not held back", "intake 50 missing (49 more like it held back since the last)"]
