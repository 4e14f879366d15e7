"""A full disk under the data folder (its own small tmpfs): health says disk_full while it lasts;
once space is back nats-server (stuck in "critical write error") is restarted by the supervisor
and the stack heals without a human."""

from __future__ import annotations

from tests.faults.stack import assert_recovered, feed, feed_while_failing


def _fill(path) -> None:  # type: ignore[no-untyped-def]
    with open(path, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * (1 << 20))
        except OSError:
            pass
        try:  # the last partial block
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass


def test_a_full_disk_is_reported_and_heals_when_space_is_back(stack, events, mount):
    data = mount("data", "256m")
    up = stack(data).ready()
    half = len(events) // 2
    acked = feed(up, events[:half])
    up.ok()
    filler = data / "filler"
    _fill(filler)
    try:
        during = feed_while_failing(up, events[half:half + 10])
        health = up.says("disk_full")
        assert health["status"] == "faulty"
    finally:
        filler.unlink()
    acked += during + feed(up, events[half + len(during):])  # from the first one not acked
    assert_recovered(up, acked)
    assert up.supervisor()["nats-server"]["restarts"] >= 1, "nats-server was restarted once space was back"
