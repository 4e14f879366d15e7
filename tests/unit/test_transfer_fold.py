"""TicketTransferred (转办) in the read model: figures count the ticket where it ends, for every
unit on the destination's path and in its category; the timeline shows both units.

The oracle is a second ledger where the same ticket was raised at the destination in the first
place: after the transfer, every figure must be the same as there (kpis.md#transfers).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from adapters.keys import KeyStore
from application.ledger import Ledger
from tests.unit.civic_kit import MEMORY_ENV, T0, Desk  # importable from the integration tests too
from projections.dashboard import DashboardProjection, create_schema
from projections.facts import Clock
from projections.queries import DashboardQueries, TicketQueries
from projections.store import Database, SQLiteDatabase
from schemas.base import Event

CLOCK = Clock("Asia/Shanghai")
END = date(2026, 12, 31)
NOW = CLOCK.start_of(END)


@pytest.fixture
def desks() -> Iterator[tuple[Desk, Desk]]:
    """Two ledgers on the standard tree: `moved` transfers T1 from c1 to c2, `born` raised it at c2."""
    stores = [KeyStore(":memory:"), KeyStore(":memory:")]
    out = tuple(Desk(Ledger(env=dict(MEMORY_ENV), keys=k), k) for k in stores)
    for d in out:
        d.build_tree()
    yield out  # type: ignore[misc]
    for k in stores:
        k.close()


def at(hours: float) -> dict:
    return dict(at=T0 + timedelta(hours=hours))


def story(desk: Desk, raised_at: str, transfer: bool) -> None:
    """T1: raised, dispatched, returned ("not our area"), [transferred to c2], dispatched again,
    accepted, resolved after its first deadline, rated dissatisfied (a new round), resolved, rated.
    T2 stays at g1 (under c1) throughout; T3 is raised at c1, recategorised and transferred to t2."""
    t1 = dict(ticket_id="T1", org=raised_at)
    desk.ok(desk.ev("TicketRaised", **t1, **at(0)))
    desk.ok(desk.ev("TicketDispatched", **t1, to_unit=raised_at, deadline=T0 + timedelta(hours=25), **at(1)))
    desk.ok(desk.ev("TicketReturned", **t1, reason="the gate is on the other side of the road", **at(2)))
    if transfer:
        desk.ok(desk.ev("TicketTransferred", **t1, from_org_id="c1", to_org_id="c2", reason="c2's side of the road", **at(3)))
    c2 = dict(ticket_id="T1", org="c2")
    desk.ok(desk.ev("TicketDispatched", **c2, to_unit="c2", to_worker="w-9", deadline=T0 + timedelta(hours=30), **at(4)),
            desk.ev("TicketAccepted", **c2, **at(5)),
            desk.ev("TicketResolved", **c2, **at(40)),
            desk.ev("TicketRated", **c2, satisfaction="dissatisfied", resolved=False, **at(41)),
            desk.ev("TicketDispatched", **c2, to_unit="c2", deadline=T0 + timedelta(hours=70), **at(42)),
            desk.ev("TicketAccepted", **c2, **at(43)),
            desk.ev("TicketResolved", **c2, **at(50)),
            desk.ev("TicketRated", **c2, **at(51)))
    desk.ok(desk.ev("TicketRaised", ticket_id="T2", org="g1", category="noise", **at(6)),
            desk.ev("TicketDispatched", ticket_id="T2", org="g1", to_unit="g1", deadline=T0 + timedelta(hours=8), **at(7)))
    if transfer:
        desk.ok(desk.ev("TicketRaised", ticket_id="T3", org="c1", **at(9)),
                desk.ev("TicketRecategorised", ticket_id="T3", org="c1", category="road_safety", **at(10)),
                desk.ev("TicketTransferred", ticket_id="T3", org="c1", from_org_id="c1", to_org_id="t2",
                        reason="a town road, not the community's", **at(11)))


def fold(desk: Desk, db: Database, batch: int) -> Database:
    create_schema(db)
    projection = DashboardProjection(db, CLOCK)
    events: list[tuple[int, Event]] = list(enumerate(desk.stored_events(), 1))
    for i in range(0, len(events), batch):
        projection.apply(events[i:i + batch])
    return db


def figures(db: Database, table: str) -> set[tuple]:
    """The table's rows with any non-zero counter (a row that went to zero is as good as absent)."""
    return {r for r in db.query(f"SELECT * FROM {table}") if any(isinstance(v, int) and v for v in r[3:])}


@pytest.mark.parametrize("batch", [1, 3, 1000])
def test_figures_count_the_ticket_where_it_ends(desks: tuple[Desk, Desk], tmp_path: Path, batch: int) -> None:
    moved, born = desks
    story(moved, "c1", transfer=True)
    story(born, "c2", transfer=False)
    a = fold(moved, SQLiteDatabase(tmp_path / "moved.sqlite"), batch)
    b = fold(born, SQLiteDatabase(tmp_path / "born.sqlite"), batch)
    # T1's rows (every counter, flow and duration bucket, for c2 and each unit above it) are
    # exactly those of a ticket raised at c2; at c1 and t1 only T2 (noise) is left.
    for table in ("ticket_daily", "ticket_flow", "ticket_hist"):
        for prefix in ("d1.", "d1.t2.", "d1.t2.c2."):
            parking = lambda db: {r for r in figures(db, table) if r[0] == prefix and r[1] == "parking"}  # noqa: E731
            assert parking(a) == parking(b) != set(), (table, prefix)
        assert {r[1] for r in figures(a, table) if r[0] in ("d1.t1.", "d1.t1.c1.")} <= {"noise"}, table  # T2 has no durations
    q = DashboardQueries(a, CLOCK)
    c1, c2, t1_, t2, d1 = (q.dashboard(o, None, END).tickets for o in ("c1", "c2", "t1", "t2", "d1"))
    assert (c1.raised, c1.returned, c1.open) == (1, 0, 1)  # T2 only
    assert (c2.raised, c2.dispatched, c2.returned, c2.reopened, c2.resolved_late, c2.rated, c2.dissatisfied) == (1, 1, 1, 1, 0, 1, 0)
    assert (c2.satisfied, c2.open, c2.overdue) == (1, 0, 0)
    assert (t1_.raised, t2.raised, d1.raised) == (1, 3 - 1, 3)  # T1 under t2 via c2, T3 at t2 itself; the district keeps all three
    assert t2.open == 1 and d1.open == 2
    # The child units of the district, and the categories, follow it too.
    children = {c.org.org_id: c.tickets.raised for c in q.dashboard("d1", None, END).children}
    assert (children["t1"], children["t2"]) == (1, 2)
    # (A category it left may stay listed with zeros, as after a recategorisation.)
    by_category = lambda org: {c.category: c.tickets.raised for c in q.dashboard(org, None, END).by_category if c.tickets.raised}  # noqa: E731
    assert by_category("t2") == {"parking": 1, "road_safety": 1}
    assert by_category("t1") == {"noise": 1}
    assert q.dashboard("c2", None, END).time_to_accept.count == 1 and q.dashboard("c1", None, END).time_to_accept.count == 0
    # Every answer of the moved ledger for c2 equals the born one's (position aside).
    qb = DashboardQueries(b, CLOCK)
    for org in ("c2",):
        x, y = q.dashboard(org, None, END), qb.dashboard(org, None, END)
        assert (x.tickets, x.time_to_accept, x.time_to_resolve, x.by_month) == (y.tickets, y.time_to_accept, y.time_to_resolve, y.by_month)


def test_batch_size_changes_nothing(desks: tuple[Desk, Desk], tmp_path: Path) -> None:
    moved, _ = desks
    story(moved, "c1", transfer=True)
    one = fold(moved, SQLiteDatabase(tmp_path / "one.sqlite"), 1)
    all_ = fold(moved, SQLiteDatabase(tmp_path / "all.sqlite"), 1000)
    for table in ("ticket_daily", "ticket_flow", "ticket_hist"):
        assert figures(one, table) == figures(all_, table), table
    assert sorted(one.query("SELECT * FROM tickets")) == sorted(all_.query("SELECT * FROM tickets"))


def test_ticket_lists_and_the_timeline_show_both_units(desks: tuple[Desk, Desk], tmp_path: Path) -> None:
    moved, _ = desks
    story(moved, "c1", transfer=True)
    db = fold(moved, SQLiteDatabase(tmp_path / "moved.sqlite"), 4)
    q, tq = DashboardQueries(db, CLOCK), TicketQueries(db, CLOCK)
    ids = lambda org: {t.ticket_id for t in tq.tickets(q.prefixes(org), "all", None, 1, 50, NOW).tickets}  # noqa: E731
    assert (ids("c1"), ids("c2"), ids("t2"), ids("d1")) == ({"T2"}, {"T1"}, {"T1", "T3"}, {"T1", "T2", "T3"})
    timeline = tq.timeline("T1", NOW)
    assert timeline.ticket.org_id == "c2"
    step = next(e for e in timeline.events if e.type == "TicketTransferred")
    assert step.detail == {"from_org_id": "c1", "to_org_id": "c2", "reason": "c2's side of the road"}
    assert [e.type for e in timeline.events][:5] == [
        "TicketRaised", "TicketDispatched", "TicketReturned", "TicketTransferred", "TicketDispatched"]
    # The stage does not change: the hour from the return to the next dispatch is all "returned".
    assert {s.stage: s.hours for s in timeline.time_in_stage}["returned"] == 2.0
    t3 = tq.timeline("T3", NOW)
    assert (t3.ticket.org_id, t3.ticket.category, t3.ticket.stage) == ("t2", "road_safety", "raised")
