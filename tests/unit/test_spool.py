"""The producer's spool file on its own: what survives a crash at each step."""

from __future__ import annotations

from pathlib import Path

import pytest

from producers.spool import Spool, SpoolInUse


def lines(n: int, start: int = 0) -> list[tuple[str, str | None, bytes]]:
    return [(f"e{i}", f"civic.intake.T.o{i}" if i % 2 else None, b'{"n":%d}' % i) for i in range(start, start + n)]


def test_appended_lines_come_back_in_order_and_acked_ones_never_again(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    spool.append(lines(5))
    got = spool.peek(3)
    assert [(g.event_id, g.subject, g.data) for g in got] == lines(3)
    spool.ack(got[:2])
    spool.close()
    reopened = Spool(tmp_path / "s.jsonl")  # a new producer after a crash
    assert reopened.pending == 3
    assert [g.event_id for g in reopened.peek(10)] == ["e2", "e3", "e4"]
    reopened.ack(reopened.peek(10))
    assert reopened.pending == 0 and (tmp_path / "s.jsonl").stat().st_size == 0, "all acked: compacted"
    reopened.close()


def test_a_torn_last_line_is_cut_off(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    spool.append(lines(2))
    spool.close()
    with open(tmp_path / "s.jsonl", "ab") as f:
        f.write(b'{"id":"e2","subj')  # the crash came in the middle of an append (never reported spooled)
    again = Spool(tmp_path / "s.jsonl")
    assert [g.event_id for g in again.peek(10)] == ["e0", "e1"] and again.pending == 2
    again.append(lines(1, start=2))
    assert [g.event_id for g in again.peek(10)] == ["e0", "e1", "e2"]
    again.close()


def test_a_crash_between_compaction_and_offset_reset_resends_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    spool.append(lines(3))
    spool.ack(spool.peek(1))
    spool.close()
    (tmp_path / "s.jsonl").write_bytes(b"")  # truncated, but the offset file still says where e1 started
    assert int((tmp_path / "s.jsonl.acked").read_text()) > 0
    again = Spool(tmp_path / "s.jsonl")
    assert again.pending == 0 and again.peek(10) == []
    again.append(lines(1, start=7))
    assert [g.event_id for g in again.peek(10)] == ["e7"]
    again.close()


def test_bytes_with_line_breaks_keep_the_framing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    pretty = b'{\n  "type": "TicketRaised"\n}'
    spool.append([("p1", None, pretty), ("p2", "x.y", b'{"a":1}')])
    assert len((tmp_path / "s.jsonl").read_bytes().splitlines()) == 2
    assert [g.data for g in spool.peek(5)] == [pretty, b'{"a":1}']
    spool.close()


def test_one_producer_per_spool(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    with pytest.raises(SpoolInUse):
        Spool(tmp_path / "s.jsonl")
    spool.close()
    Spool(tmp_path / "s.jsonl").close()
