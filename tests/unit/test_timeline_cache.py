"""The ticket timeline remembered per read-model position (issue 14), as the dashboards' answers
are: the same answer as the query, again without reading the trail; a new answer once the
position moves; never given past an open ticket's deadline; never given to another scope.
A real SQLite read model (versioned, as the web role reads it) folded from the scripted district.

The read side learns the read model's position from the projector's announcements and from its
own reads, and trusts it for FRESH_SECONDS (projections/readside.py): the clock it measures that
with is the test's, moved by hand, never slept on."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import msgspec
import pytest

from projections.dashboard import NAME, DashboardProjection, create_schema
from projections.facts import Clock
from projections.queries import DashboardQueries, NotFound, TicketQueries
from projections.readside import FRESH_SECONDS, ReadSide
from projections.store import Versions
from schemas.status import ReadModelStatus
from tests.scenario import CST, scenario

CLOCK = Clock("Asia/Shanghai")
TICKETS = ["T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9"]


def instant(day: int, hour: int) -> int:
    return int(datetime(2026, 3, day, hour, tzinfo=CST).timestamp())


class Monotonic:
    """The read side's monotonic clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def stale(self) -> None:
        """Past FRESH_SECONDS: what the read side knows of the position is too old to use."""
        self.now += FRESH_SECONDS + 0.001


@pytest.fixture
def district(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The read model folded up to T2's last event and a ReadSide on it; `rest` folds the rest
    and announces the new position, as the projector does after its commit (announce=False: the
    announcement lost, or the projector's NATS connection down)."""
    versions = Versions(NAME, tmp_path)
    writer = versions.open(1)
    create_schema(writer)
    versions.switch(1)
    ledger = [(n, msgspec.structs.replace(e, org_path=tuple(subject.split(".")[3:]), personal=()))
              for n, (e, subject) in enumerate(scenario(), 1)]
    last_of_t2 = max(i for i, (_, e) in enumerate(ledger) if getattr(e, "ticket_id", None) == "T2")
    projection = DashboardProjection(writer, CLOCK)
    projection.apply(ledger[:last_of_t2])
    read = ReadSide(versions, CLOCK, monotonic=Monotonic())

    def rest(announce: bool = True) -> None:
        projection.apply(ledger[last_of_t2:])
        if announce:
            read.announced(ReadModelStatus(name=NAME, version=1, position=projection.position()))

    yield read, writer, rest
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


class Counted:
    """Every query the read side's connection runs; a read transaction fails the test."""

    def __init__(self, read: ReadSide) -> None:
        self.db, self.queries = read.db(), []
        self.real_query, self.real_snapshot = self.db.query, self.db.snapshot
        self.db.query, self.db.snapshot = self.query, self.no_snapshot  # type: ignore[method-assign]

    def query(self, sql: str, params=()):  # type: ignore[no-untyped-def]
        self.queries.append(sql)
        return self.real_query(sql, params)

    def no_snapshot(self):  # type: ignore[no-untyped-def]
        raise AssertionError("a remembered answer opened a read transaction")

    def allow_snapshots(self) -> None:
        self.db.snapshot = self.real_snapshot  # type: ignore[method-assign]


def test_a_remembered_answer_costs_no_query_while_the_position_is_fresh_and_one_after(district) -> None:  # type: ignore[no-untyped-def]
    # On PostgreSQL even the position's query is a round trip: the cached answers were 2.16-2.26 x
    # /api/ping's p99 at 1M events with it, and a read transaction around it was three more
    # (docs/benchmarks.md, the cached reads on PostgreSQL).
    from datetime import date

    read, _, rest = district
    now, day = instant(31, 0), date(2026, 3, 31)
    first_board, first_timeline = read.dashboard("yn", None, day), read.timeline("T2", now, None)
    counted = Counted(read)
    assert read.dashboard("yn", None, day) is first_board  # the miss read the position: fresh
    assert read.timeline("T2", now, None) is first_timeline
    assert counted.queries == []
    read.monotonic.stale()
    read.announced(ReadModelStatus(name=NAME, version=1, position=read.dashboards().position()))  # the projector, idle, at start
    counted.queries.clear()
    assert read.dashboard("yn", None, day) is first_board and read.timeline("T2", now, None) is first_timeline
    assert counted.queries == []  # a fresh announcement: no query
    read.monotonic.stale()  # no announcement for over a second: one query, then known again
    assert read.dashboard("yn", None, day) is first_board and read.timeline("T2", now, None) is first_timeline
    assert len(counted.queries) == 1 and "tracking" in counted.queries[0]
    counted.allow_snapshots()
    rest()  # the position moves and is announced: read again, in a read transaction
    assert read.dashboard("yn", None, day) is not first_board
    assert read.timeline("T2", now, None) is not first_timeline


def test_without_announcements_an_answer_is_at_most_a_second_behind(district) -> None:  # type: ignore[no-untyped-def]
    read, writer, rest = district
    now = instant(31, 0)
    first = read.timeline("T2", now, None)
    rest(announce=False)  # the projector committed; its announcement never came
    assert read.timeline("T2", now, None) is first  # within the second: the known position
    read.monotonic.stale()
    after = read.timeline("T2", now, None)
    assert after == TicketQueries(writer, CLOCK).timeline("T2", now) and after.ticket.stage == "closed"


def test_announcements_of_another_version_or_read_model_are_not_heard(district) -> None:  # type: ignore[no-untyped-def]
    read, writer, rest = district
    now = instant(31, 0)
    before = DashboardQueries(writer, CLOCK).position()
    first = read.timeline("T2", now, None)
    rest(announce=False)
    read.monotonic.stale()
    read.announced(ReadModelStatus(name="event_index", version=1, position=before))  # not this read model's news
    after = read.timeline("T2", now, None)  # so the stale position is read again
    assert after is not first and after.ticket.stage == "closed"
    counted = Counted(read)
    read.announced(ReadModelStatus(name=NAME, version=2, position=before))  # a rebuild's version, not the one read
    assert read.timeline("T2", now, None) is after and counted.queries == []  # what was known still holds


def test_the_known_position_never_goes_backwards(district) -> None:  # type: ignore[no-untyped-def]
    read, writer, rest = district
    now = instant(31, 0)
    before = DashboardQueries(writer, CLOCK).position()
    first = read.timeline("T2", now, None)  # remembered under the earlier position
    rest()
    after = read.timeline("T2", now, None)
    read.announced(ReadModelStatus(name=NAME, version=1, position=before))  # overtaken by the newer one
    assert read.timeline("T2", now, None) is after  # not the answer remembered at `before`
    read.monotonic.stale()
    read.announced(ReadModelStatus(name=NAME, version=1, position=before))  # older news does not make it fresh
    counted = Counted(read)
    assert read.timeline("T2", now, None) is after and len(counted.queries) == 1
    assert first is not after


def test_a_readers_scope_look_ups_are_remembered_per_position_like_the_answers(district) -> None:  # type: ignore[no-untyped-def]
    """Every scoped read looks up its unit and the reader's paths (dashboards/auth.py): remembered
    per position, a cached answer costs no query for them either; a unit's move is a ledger event,
    so after it the unit and its paths are read again; an unknown unit is never remembered."""
    read, writer, rest = district
    org, paths = read.org("v1"), read.prefixes("v1")
    assert org == DashboardQueries(writer, CLOCK).org("v1") and paths == DashboardQueries(writer, CLOCK).prefixes("v1")
    counted = Counted(read)
    assert read.org("v1") is org and read.prefixes("v1") is paths and counted.queries == []
    counted.allow_snapshots()
    for _ in range(2):
        with pytest.raises(NotFound):
            read.org("nowhere")
    assert sum("FROM orgs" in q for q in counted.queries) == 2  # asked twice: an unknown unit is not remembered
    rest()  # v1 moves under tb (tests/scenario.py), and the position is announced
    moved = read.org("v1")
    assert moved.path != org.path and moved == DashboardQueries(writer, CLOCK).org("v1")
    assert read.prefixes("v1") == DashboardQueries(writer, CLOCK).prefixes("v1") != paths
