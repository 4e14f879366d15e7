"""A ticket's deadline tasks (projections/deadlines.py, read through DeadlineQueries.of_ticket):
one row per round, unit and stage, due when the stored events say, met by the event that meets
it, withdrawn when a return, closing or a dispatch to another unit ends it unmet, replaced by a
dispatch again to the same unit; the same rows however the ledger is cut into batches."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import schemas as s
from civic_kit import Desk
from projections.dashboard import DashboardProjection, create_schema
from projections.deadline_queries import DeadlineQueries
from projections.store import SQLiteDatabase

CN = ZoneInfo("Asia/Shanghai")


def at(mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=CN)


def iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant else None


def story(tree: Desk) -> None:
    ev = tree.ev
    tree.raise_ticket("T1", category="parking")
    tree.ok(ev("TicketDispatched", ticket_id="T1", at=at(3, 2, 10), deadline=None, to_unit="c1",
               supporting=(s.SupportingTask(unit="c2", task="trim the trees"),
                           s.SupportingTask(unit="t1", task="patch the road", deadline=at(3, 4, 12)))))
    tree.ok(ev("TicketAccepted", ticket_id="T1", at=at(3, 2, 11)))                      # due 14:00: in time
    tree.ok(ev("TicketTaskAccepted", ticket_id="T1", unit="c2", at=at(3, 2, 16)))        # due 14:00: late
    tree.ok(ev("TicketTaskCompleted", ticket_id="T1", unit="t1", at=at(3, 3, 11)))       # completing signs for it too
    tree.ok(ev("TicketContacted", ticket_id="T1", at=at(3, 3, 12)))                      # due 3 Mar 10:00: late
    ask = ev("TicketExtensionRequested", ticket_id="T1", unit="c2", at=at(3, 3, 13), until=at(3, 6, 17, 30), reason="a crane")
    tree.ok(ask, ev("TicketExtensionApproved", ticket_id="T1", request_id=ask.event_id, until=at(3, 6, 17, 30), at=at(3, 3, 14)))
    tree.ok(ev("TicketPaused", ticket_id="T1", at=at(3, 3, 14, 30), reason="away"))
    tree.ok(ev("TicketResumed", ticket_id="T1", at=at(3, 4, 14, 30)))
    tree.ok(ev("TicketResolved", ticket_id="T1", unit="c1", at=at(3, 5, 10)))
    tree.ok(ev("TicketClosed", ticket_id="T1", at=at(3, 5, 12)))                          # c2's task: withdrawn unmet
    # T2: returned (its tasks withdrawn), dispatched again to another unit (new tasks)
    tree.raise_ticket("T2", category="parking")
    tree.ok(ev("TicketDispatched", ticket_id="T2", at=at(3, 2, 10), deadline=at(3, 3, 18), to_unit="c1"))
    tree.ok(ev("TicketReturned", ticket_id="T2", at=at(3, 2, 12), reason="not ours"))
    tree.ok(ev("TicketDispatched", ticket_id="T2", at=at(3, 2, 13), deadline=None, to_unit="g1"))
    # T3: dispatched again before anyone signed for it, first to the same unit (its tasks replaced:
    # new deadlines, owed again), then to another (the first unit's tasks withdrawn)
    tree.raise_ticket("T3", category="parking")
    tree.ok(ev("TicketDispatched", ticket_id="T3", at=at(3, 2, 10), deadline=at(3, 3, 18), to_unit="c1"))
    tree.ok(ev("TicketDispatched", ticket_id="T3", at=at(3, 2, 11), deadline=at(3, 4, 18), to_unit="c1"))
    tree.ok(ev("TicketDispatched", ticket_id="T3", at=at(3, 2, 12), deadline=at(3, 5, 18), to_unit="g1"))


def fold(tree: Desk, tmp_path: Path, batch: int) -> SQLiteDatabase:
    db = SQLiteDatabase(tmp_path / f"dashboard-{batch}.sqlite")
    create_schema(db)
    projection = DashboardProjection(db)
    events = list(enumerate(tree.stored_events(), 1))
    for i in range(0, len(events), batch):
        projection.apply(events[i:i + batch])
    return db


def rows(db: SQLiteDatabase, ticket: str) -> list[tuple[Any, ...]]:
    return [(r.stage, r.unit, r.role, r.due_at, r.met_at, r.withdrawn_at, r.extended, r.paused)
            for r in DeadlineQueries(db).of_ticket(ticket)]


@pytest.mark.parametrize("batch", [1, 4, 1000])
def test_each_task_of_each_unit(tree: Desk, tmp_path: Path, batch: int) -> None:
    story(tree)
    db = fold(tree, tmp_path, batch)
    assert rows(db, "T1") == [
        # the lead, c1: the resolve deadline moved by the pause (one working day of it), met on 5 Mar;
        # the resolution meets its earlier stages too, but those were met before
        ("first_contact", "c1", "lead", iso(at(3, 3, 10)), iso(at(3, 3, 12)), None, False, False),
        ("resolve", "c1", "lead", iso(at(3, 10, 10)), iso(at(3, 5, 10)), None, False, True),
        ("sign_for", "c1", "lead", iso(at(3, 2, 14)), iso(at(3, 2, 11)), None, False, False),
        # c2: signed for late; its task extended, moved by the pause, never completed: withdrawn at closing
        ("sign_for", "c2", "supporting", iso(at(3, 2, 14)), iso(at(3, 2, 16)), None, False, False),
        ("supporting", "c2", "supporting", iso(at(3, 9, 17, 30)), None, iso(at(3, 5, 12)), True, True),
        # t1: its own deadline, completed (which meets its sign-for too, late) before the pause
        ("sign_for", "t1", "supporting", iso(at(3, 2, 14)), iso(at(3, 3, 11)), None, False, False),
        ("supporting", "t1", "supporting", iso(at(3, 4, 12)), iso(at(3, 3, 11)), None, False, False),
    ]
    t2 = DeadlineQueries(db).of_ticket("T2")
    assert {(r.unit, r.stage, r.withdrawn_at, r.met_at) for r in t2 if r.unit == "c1"} == \
        {("c1", stage, iso(at(3, 2, 12)), None) for stage in ("sign_for", "first_contact", "resolve")}
    new = [r for r in t2 if r.unit == "g1"]
    assert len(new) == 3 and all(r.withdrawn_at is None and r.met_at is None and r.round == 1 for r in new)
    assert {r.stage: r.due_at for r in new}["sign_for"] == iso(at(3, 2, 15))  # a grid: two hours
    # T3: one row per unit and stage; c1's carry its second deadline, withdrawn when g1 got the ticket
    t3 = {(r.unit, r.stage): r for r in DeadlineQueries(db).of_ticket("T3")}
    assert sorted(t3) == sorted((u, st) for u in ("c1", "g1") for st in ("sign_for", "first_contact", "resolve"))
    assert (t3["c1", "resolve"].due_at, t3["c1", "resolve"].dispatched_at) == (iso(at(3, 4, 18)), iso(at(3, 2, 11)))
    assert {t3["c1", st].withdrawn_at for st in ("sign_for", "first_contact", "resolve")} == {iso(at(3, 2, 12))}
    assert t3["g1", "resolve"].due_at == iso(at(3, 5, 18)) and t3["g1", "resolve"].withdrawn_at is None


def test_the_rows_are_the_same_however_batched(tree: Desk, tmp_path: Path) -> None:
    story(tree)
    one, each = fold(tree, tmp_path, 1000), fold(tree, tmp_path, 1)
    for ticket in ("T1", "T2", "T3"):
        assert DeadlineQueries(one).of_ticket(ticket) == DeadlineQueries(each).of_ticket(ticket)


def test_a_read_model_from_before_loses_its_second_deadline_table(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "old.sqlite")
    db.execute("CREATE TABLE ticket_clocks (ticket_id TEXT, dispatch INTEGER, clock TEXT, unit TEXT)")
    create_schema(db)
    assert not db.query("SELECT 1 FROM sqlite_master WHERE name = 'ticket_clocks'")
    assert db.query("SELECT 1 FROM sqlite_master WHERE name = 'deadline_tasks'")
