"""The ticket timeline remembered per read-model position (issue 14), as the dashboards' answers
are: the same answer as the query, again without reading the trail; a new answer once the
position moves; never given past an open ticket's deadline; never given to another scope.
A real SQLite read model (versioned, as the web role reads it) folded from the scripted district."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import msgspec
import pytest

from projections.dashboard import NAME, DashboardProjection, create_schema
from projections.facts import Clock
from projections.queries import DashboardQueries, NotFound, TicketQueries
from projections.readside import ReadSide
from projections.store import Versions
from tests.scenario import CST, scenario

CLOCK = Clock("Asia/Shanghai")
TICKETS = ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9"]


def instant(day: int, hour: int) -> int:
    return int(datetime(2026, 3, day, hour, tzinfo=CST).timestamp())


@pytest.fixture
def district(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The read model folded up to T2's last event (the rest held back) and a ReadSide on it."""
    versions = Versions(NAME, tmp_path)
    writer = versions.open(1)
    create_schema(writer)
    versions.switch(1)
    ledger = [(n, msgspec.structs.replace(e, org_path=tuple(subject.split(".")[3:]), personal=()))
              for n, (e, subject) in enumerate(scenario(), 1)]
    last_of_t2 = max(i for i, (_, e) in enumerate(ledger) if getattr(e, "ticket_id", None) == "T2")
    projection = DashboardProjection(writer, CLOCK)
    projection.apply(ledger[:last_of_t2])
    yield ReadSide(versions, CLOCK), writer, lambda: projection.apply(ledger[last_of_t2:])
    writer.close()


def test_the_remembered_timeline_is_the_query_answer_until_the_position_moves(district) -> None:  # type: ignore[no-untyped-def]
    read, writer, rest = district
    now = instant(31, 0)
    first = read.timeline("T2", now, None)
    assert first == TicketQueries(writer, CLOCK).timeline("T2", now)
    assert read.timeline("T2", now, None) is first  # remembered: the trail not read again
    rest()
    after = read.timeline("T2", now, None)
    assert len(after.events) == len(first.events) + 1 and after.ticket.stage == "closed"
    for ticket in TICKETS:
        assert read.timeline(ticket, now, None) == TicketQueries(writer, CLOCK).timeline(ticket, now)


def test_an_answer_is_not_given_past_the_deadline_it_was_read_before(district) -> None:  # type: ignore[no-untyped-def]
    read, _, rest = district
    rest()
    before = read.timeline("T3", instant(6, 7), None)  # accepted, deadline 6 March 08:00
    assert before.ticket.overdue is False and read.timeline("T3", instant(6, 8), None) is before
    assert read.timeline("T3", instant(6, 9), None).ticket.overdue is True


def test_the_scope_applies_before_the_remembered_answer(district) -> None:  # type: ignore[no-untyped-def]
    read, writer, rest = district
    rest()
    now = instant(31, 0)
    everything = read.timeline("T3", now, None)  # remembered for a reader of every unit
    elsewhere = DashboardQueries(writer, CLOCK, "Asia/Shanghai").prefixes("c1")
    for _ in range(2):
        with pytest.raises(NotFound):
            read.timeline("T3", now, elsewhere)  # v1's ticket, a c1 reader: unknown, also once remembered
    assert read.timeline("T3", now, DashboardQueries(writer, CLOCK, "Asia/Shanghai").prefixes("v1")) == everything


def test_a_remembered_answer_costs_one_query_and_no_read_transaction(district) -> None:  # type: ignore[no-untyped-def]
    # On PostgreSQL a read transaction is three round trips more than the position's query: a hit
    # must not open one (docs/benchmarks.md, the cached reads on PostgreSQL at 1M events).
    from datetime import date

    read, _, rest = district
    now, day = instant(31, 0), date(2026, 3, 31)
    first_board, first_timeline = read.dashboard("yn", None, day), read.timeline("T2", now, None)
    db = read.db()
    queries: list[str] = []
    real_query, real_snapshot = db.query, db.snapshot

    def counted(sql: str, params=()):  # type: ignore[no-untyped-def]
        queries.append(sql)
        return real_query(sql, params)

    def no_snapshot():  # type: ignore[no-untyped-def]
        raise AssertionError("a remembered answer opened a read transaction")

    db.query, db.snapshot = counted, no_snapshot
    assert read.dashboard("yn", None, day) is first_board
    assert read.timeline("T2", now, None) is first_timeline
    assert len(queries) == 2 and all("tracking" in q for q in queries)
    db.snapshot = real_snapshot
    rest()  # the position moves: read again, in a read transaction
    assert read.dashboard("yn", None, day) is not first_board
    assert read.timeline("T2", now, None) is not first_timeline
