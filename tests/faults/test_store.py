"""The event store made read-only (immutable, as `chattr +i` does), then writable again: health
says store_error while it lasts, the ledger exits and is restarted with backoff, and it all heals
without a human."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.faults.stack import assert_recovered, feed, feed_while_failing, wait_until


def _immutable(files: list, on: bool) -> None:
    for f in files:
        if f.exists():
            subprocess.run(["chattr", "+i" if on else "-i", str(f)], check=True)


def test_a_read_only_store_is_reported_and_heals_when_writable_again(stack, events):
    if os.geteuid() != 0:
        pytest.skip("needs root for chattr +i (CI runs as root)")
    up = stack().ready()
    half = len(events) // 2
    acked = feed(up, events[:half])
    up.ok()
    store = [up.data / f"ledger.sqlite{suffix}" for suffix in ("", "-wal", "-shm")]
    _immutable(store, True)
    try:
        during = feed_while_failing(up, events[half:half + 20])  # intake still takes them
        assert up.says("store_error")["status"] == "faulty"
        wait_until(lambda: up.supervisor()["ledger"]["restarts"] >= 1, 30, "the ledger to exit for a restart")
        assert up.says("store_error")["status"] == "faulty", "the restarted ledger keeps reporting the error"
    finally:
        _immutable(store, False)
    acked += during + feed(up, events[half + len(during):])  # from the first one not acked
    assert_recovered(up, acked)
    assert "ledger exited with 75" in up.log_path.read_text()
