"""A stale DIR/nats.url: its port now belongs to another instance, or to nobody. Every command
refuses with a sentence (exit 2) instead of writing into, or auditing, someone else's streams."""

from __future__ import annotations

from adapters.process import free_port
from tests.faults.stack import assert_recovered, civic, feed


def test_a_stale_nats_url_is_refused_and_verify_cannot_answer(stack, events, tmp_path):
    mine = stack(tmp_path / "mine").ready()
    half = len(events) // 2
    acked = feed(mine, events[:half])
    mine.ok()
    mine.stop()
    other = stack(tmp_path / "other").ready()
    feed(other, events[:3])

    stale = mine.settings.nats_url_file
    stale.write_text(other.url + "\n")  # the port now belongs to another instance
    jsonl = tmp_path / "one.jsonl"
    jsonl.write_bytes(b"{}\n")
    for command in (["emit", str(jsonl)], ["audit", "verify"], ["ledger", "show"], ["ledger", "tail"], ["audit", "replay"]):
        result = civic(*command, data=mine.data)
        assert result.returncode == 2, (command, result.stdout, result.stderr)
        assert "another instance's streams" in result.stderr and "stale" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert other.health()["streams"][0]["last_sequence"] == 3, "nothing was published into the other instance"

    stale.write_text(f"nats://127.0.0.1:{free_port()}\n")  # now nobody listens there
    verified = civic("audit", "verify", data=mine.data)
    assert verified.returncode == 2 and "cannot answer" in verified.stderr, verified.stdout + verified.stderr
    assert "Traceback" not in verified.stderr

    again = stack(mine.data).ready()  # the folder's own server again: everything is accepted
    acked += feed(again, events[half:])
    assert_recovered(again, acked)
