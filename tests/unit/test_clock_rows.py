"""The clocks read model (projections/clocks.py): one row per clock of each dispatch, due when
the stored events say, met by the event that stops it, ended unmet when its dispatch stops
running; the same rows however the ledger is cut into batches."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import schemas as s
from civic_kit import Desk
from projections.clocks import clocks_of
from projections.dashboard import DashboardProjection, create_schema
from projections.store import SQLiteDatabase

CN = ZoneInfo("Asia/Shanghai")
VERSION = "2026.11-1"


def at(mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=CN)


def ts(instant: datetime | None) -> int | None:
    return int(instant.timestamp()) if instant else None


def story(tree: Desk) -> None:
    ev = tree.ev
    tree.raise_ticket("T1", category="parking")
    tree.ok(ev("TicketDispatched", ticket_id="T1", at=at(3, 2, 10), deadline=None, to_unit="c1",
               supporting=(s.SupportingTask(unit="c2", task="trim the trees"),
                           s.SupportingTask(unit="t1", task="patch the road", deadline=at(3, 4, 12)))))
    tree.ok(ev("TicketAccepted", ticket_id="T1", at=at(3, 2, 11)))                      # due 14:00: in time
    tree.ok(ev("TicketTaskAccepted", ticket_id="T1", unit="c2", at=at(3, 2, 16)))        # due 14:00: late
    tree.ok(ev("TicketTaskCompleted", ticket_id="T1", unit="t1", at=at(3, 3, 11)))       # never signed for
    tree.ok(ev("TicketContacted", ticket_id="T1", at=at(3, 3, 12)))                      # due 3 Mar 10:00: late
    ask = ev("TicketExtensionRequested", ticket_id="T1", unit="c2", at=at(3, 3, 13), until=at(3, 6, 17, 30), reason="a crane")
    tree.ok(ask, ev("TicketExtensionApproved", ticket_id="T1", request_id=ask.event_id, until=at(3, 6, 17, 30), at=at(3, 3, 14)))
    tree.ok(ev("TicketPaused", ticket_id="T1", at=at(3, 3, 14, 30), reason="away"))
    tree.ok(ev("TicketResumed", ticket_id="T1", at=at(3, 4, 14, 30)))
    tree.ok(ev("TicketResolved", ticket_id="T1", unit="c1", at=at(3, 5, 10)))
    tree.ok(ev("TicketClosed", ticket_id="T1", at=at(3, 5, 12)))                          # c2's task: ended unmet
    # T2: returned (its clocks end), dispatched again (new clocks)
    tree.raise_ticket("T2", category="parking")
    tree.ok(ev("TicketDispatched", ticket_id="T2", at=at(3, 2, 10), deadline=at(3, 3, 18), to_unit="c1"))
    tree.ok(ev("TicketReturned", ticket_id="T2", at=at(3, 2, 12), reason="not ours"))
    tree.ok(ev("TicketDispatched", ticket_id="T2", at=at(3, 2, 13), deadline=None, to_unit="g1"))


def fold(tree: Desk, tmp_path: Path, batch: int) -> SQLiteDatabase:
    db = SQLiteDatabase(tmp_path / f"dashboard-{batch}.sqlite")
    create_schema(db)
    projection = DashboardProjection(db)
    events = list(enumerate(tree.stored_events(), 1))
    for i in range(0, len(events), batch):
        projection.apply(events[i:i + batch])
    return db


def rows(db: SQLiteDatabase, ticket: str) -> list[tuple[Any, ...]]:
    return [(r.clock, r.unit, r.lead, r.due_at, r.met_at, r.ended_at, r.extensions, r.policy_version)
            for r in clocks_of(db, ticket)]


@pytest.mark.parametrize("batch", [1, 4, 1000])
def test_each_clock_of_each_dispatch(tree: Desk, tmp_path: Path, batch: int) -> None:
    story(tree)
    db = fold(tree, tmp_path, batch)
    assert rows(db, "T1") == [
        # the lead, c1: the resolve clock moved by the pause (one working day of it), met on 5 Mar
        ("first_contact", "c1", 1, ts(at(3, 3, 10)), ts(at(3, 3, 12)), None, 0, VERSION),
        ("resolve", "c1", 1, ts(at(3, 10, 10)), ts(at(3, 5, 10)), None, 0, VERSION),
        ("sign_for", "c1", 1, ts(at(3, 2, 14)), ts(at(3, 2, 11)), None, 0, VERSION),
        # c2: signed for late; its task extended, moved by the pause, never completed: ended at closing
        ("sign_for", "c2", 0, ts(at(3, 2, 14)), ts(at(3, 2, 16)), None, 0, VERSION),
        ("supporting", "c2", 0, ts(at(3, 9, 17, 30)), None, ts(at(3, 5, 12)), 1, VERSION),
        # t1: its own deadline (no policy version), completed without signing for first
        ("sign_for", "t1", 0, ts(at(3, 2, 14)), None, ts(at(3, 5, 12)), 0, VERSION),
        ("supporting", "t1", 0, ts(at(3, 4, 12)), ts(at(3, 3, 11)), None, 0, None),
    ]
    t2 = clocks_of(db, "T2")
    dispatches = sorted({r.dispatch for r in t2})
    assert len(dispatches) == 2
    old = [r for r in t2 if r.dispatch == dispatches[0]]
    new = [r for r in t2 if r.dispatch == dispatches[1]]
    assert {(r.clock, r.ended_at, r.met_at) for r in old} == {(c, ts(at(3, 2, 12)), None) for c in ("sign_for", "first_contact", "resolve")}
    assert {r.unit for r in new} == {"g1"} and all(r.ended_at is None and r.met_at is None for r in new)
    assert {r.clock: r.due_at for r in new}["sign_for"] == ts(at(3, 2, 15))  # a grid: two hours


def test_the_rows_are_the_same_however_batched(tree: Desk, tmp_path: Path) -> None:
    story(tree)
    one, each = fold(tree, tmp_path, 1000), fold(tree, tmp_path, 1)
    for ticket in ("T1", "T2"):
        assert clocks_of(one, ticket) == clocks_of(each, ticket)
