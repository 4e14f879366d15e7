"""Every query method of projections/ over a read model folded from the scripted district
(tests/scenario.py), checked against answers worked out by hand from the scenario's comments,
not against the code's own output. No NATS: the ledger events go straight into the projection.

The scenario, as the read model sees it (times CST, March 2026; v1 moves from ta to tb on 9 March):
  T1 g1   2 09:00  closed (satisfied)                     T6 c1  6 10:00  voided, duplicate of T2
  T2 c1   3 09:00  closed, returned once, reopened once   T7 pk  7 09:00  closed (zone hz)
  T3 v1   5 08:00  accepted, deadline 6 08:00: overdue    T8 c1  7 14:00  raised, recategorised
  T4 v1   5 10:00  resolved, not rated                    T9 v1 10 09:00  raised (after the move: under tb)
  T5 v2   6 09:00  rated satisfied, resolved a day late
  D1 c1 3 14:00 settled; D2 v1 4 14:00 failed; D3 v2 8 15:00 in mediation
  P1 h1 2 20:00 implemented (votes 21/1/1); P2 v1 8 20:00 proposed

QueryScenario holds the tests; TestOnSQLite runs them on SQLite here, and
tests/integration/test_queries_postgres.py runs the same class on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import msgspec
import pytest

from dashboards.open311 import query as open311_query
from projections.casework import CaseworkQueries
from projections.dashboard import DashboardProjection, create_schema
from projections.evidence import Cohort, EvidenceQueries
from projections.facts import Clock
from projections.queries import DashboardQueries, NotFound, TicketQueries
from projections.service_requests import ServiceRequestQueries
from projections.store import Database, SQLiteDatabase
from schemas.base import Event
from schemas.open311 import Open311Error
from tests.scenario import CST, scenario

CLOCK = Clock("Asia/Shanghai")
END = date(2026, 3, 31)
NOW = CLOCK.start_of(date(2026, 12, 31))
"""Long after every deadline."""
NEWEST_FIRST = ["T9", "T8", "T6", "T5", "T4", "T3", "T2", "T1"]
"""Every ticket of district yn (T7 is in the zone hz), newest first."""


def iso(day: int, hour: int, minute: int = 0) -> str:
    return datetime(2026, 3, day, hour, minute, tzinfo=CST).isoformat()


def instant(day: int, hour: int, minute: int = 0) -> int:
    return int(datetime(2026, 3, day, hour, minute, tzinfo=CST).timestamp())


def fold(db: Database, batch: int = 7) -> list[tuple[Event, str]]:
    """The scenario's events as the ledger holds them (org path from the intake subject, personal
    data sealed away), applied in batches as the projector would. Returns the events in ledger order."""
    create_schema(db)
    events = scenario()
    ledger = [(n, msgspec.structs.replace(e, org_path=tuple(subject.split(".")[3:]), personal=()))
              for n, (e, subject) in enumerate(events, 1)]
    projection = DashboardProjection(db, CLOCK)
    for i in range(0, len(ledger), batch):
        projection.apply(ledger[i:i + batch])
    return events


class _Read:
    """What dashboards/open311.py asks of the read side."""

    def __init__(self, db: Database):
        self.db = db

    def service_requests(self) -> ServiceRequestQueries:
        return ServiceRequestQueries(self.db, CLOCK)


class QueryScenario:
    """The tests; a subclass provides `db`, a read model with the scenario folded in."""

    @pytest.fixture(scope="class")
    @classmethod
    def db(cls) -> Iterator[Database]:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def boards(cls, db: Database) -> DashboardQueries:
        return DashboardQueries(db, CLOCK)

    @pytest.fixture(scope="class")
    @classmethod
    def tickets(cls, db: Database) -> TicketQueries:
        return TicketQueries(db, CLOCK)

    # --- org tree and scope ---------------------------------------------------------------

    def test_org_tree_after_the_move(self, boards: DashboardQueries) -> None:
        assert [o.org_id for o in boards.orgs()] == ["hz", "wc", "pk", "yn", "ta", "c1", "g1", "tb", "v1", "h1", "v2"]
        v1 = boards.org("v1")
        assert (v1.kind, v1.name, v1.parent_id, v1.path) == ("village", "village v1", "tb", ["yn", "tb", "v1"])
        assert [o.org_id for o in boards.children("ta")] == ["c1"], "v1 moved away"
        assert [o.org_id for o in boards.children("tb")] == ["v1", "v2"]
        assert boards.children("g1") == []
        with pytest.raises(NotFound):
            boards.org("atlantis")

    def test_a_moved_unit_keeps_every_path_it_had(self, boards: DashboardQueries) -> None:
        assert boards.prefixes("v1") == ["yn.ta.v1.", "yn.tb.v1."]
        assert boards.prefixes("h1") == ["yn.ta.v1.h1.", "yn.tb.v1.h1."]
        assert boards.prefixes("ta") == ["yn.ta."] and boards.prefixes("atlantis") == []

    def test_position_is_the_last_event_applied(self, boards: DashboardQueries) -> None:
        assert boards.position() == len(scenario())

    # --- dashboard figures: scope, window, stocks -----------------------------------------

    def test_town_figures_count_where_items_were_raised(self, boards: DashboardQueries) -> None:
        ta = boards.dashboard("ta", None, END).tickets
        # T1 T2 T3 T4 T8 raised (T6 voided only); T3 T4 count under ta, where v1 was then.
        assert (ta.raised, ta.voided, ta.dispatched, ta.accepted, ta.resolved, ta.closed) == (5, 1, 4, 4, 3, 2)
        assert (ta.rated, ta.satisfied, ta.basically_satisfied, ta.dissatisfied, ta.reopened, ta.returned) == (2, 1, 1, 0, 1, 1)
        assert (ta.open, ta.overdue, ta.resolved_late) == (2, 1, 0)  # T3 (overdue) and T8 open
        assert (ta.response_rate, ta.resolution_rate, ta.satisfaction_rate) == (1.0, 0.6, 1.0)
        tb = boards.dashboard("tb", None, END).tickets
        assert (tb.raised, tb.resolved, tb.resolved_late, tb.open, tb.overdue) == (2, 1, 1, 1, 0)  # T5 late; T9 open, no deadline
        v1 = boards.dashboard("v1", None, END).tickets
        assert (v1.raised, v1.open, v1.overdue, v1.resolution_rate) == (3, 2, 1, 0.3333)  # T3 T4 T9 under both paths

    def test_children_and_zone(self, boards: DashboardQueries) -> None:
        yn = boards.dashboard("yn", None, END)
        assert [(c.org.org_id, c.tickets.raised, c.tickets.open, c.disputes.registered) for c in yn.children] == \
            [("ta", 5, 2, 2), ("tb", 2, 1, 1)]
        assert yn.tickets.raised == 7 and yn.disputes.registered == 3
        hz = boards.dashboard("hz", None, END).tickets
        assert (hz.raised, hz.closed, hz.open) == (1, 1, 0)

    def test_a_window_counts_its_cohort_and_the_stocks_at_its_end(self, boards: DashboardQueries) -> None:
        board = boards.dashboard("ta", date(2026, 3, 3), date(2026, 3, 5))
        assert (board.window_from, board.window_to) == ("2026-03-03", "2026-03-05")
        t = board.tickets
        assert (t.raised, t.resolved, t.closed) == (3, 2, 1)  # T2 T3 T4; T2 and T4 resolved; T2 closed
        # At the end of 5 March only T3 is open, and its deadline (6 March) has not passed yet.
        assert (t.open, t.overdue) == (1, 0)
        assert [(c.category, c.tickets.raised) for c in board.by_category] == [("environment", 1), ("parking", 2)]
        assert [(m.month, m.tickets.raised, m.disputes.registered) for m in board.by_month] == [("2026-03", 3, 2)]
        assert boards.dashboard("ta", date(2026, 3, 6), date(2026, 3, 6)).tickets.open == 1  # T3; T6 voided the same day

    def test_percentiles_and_deliberation(self, boards: DashboardQueries) -> None:
        board = boards.dashboard("c1", None, END)
        # Accepted after 1 h (T1) and 3 h (T2): buckets of 60 and 240 minutes.
        assert (board.time_to_accept.p50, board.time_to_accept.p90, board.time_to_accept.count) == (1.0, 4.0, 2)
        # First resolutions after 6 h (T1) and 24 h (T2).
        assert (board.time_to_resolve.p50, board.time_to_resolve.p90) == (8.0, 24.0)
        p = boards.dashboard("ta", None, END).deliberation
        assert (p.proposed, p.discussed, p.decided, p.implemented) == (2, 1, 1, 1)
        assert boards.dashboard("tb", None, END).deliberation.proposed == 0

    # --- ticket lists and workload ----------------------------------------------------------

    def test_ticket_list_by_status_newest_first(self, boards: DashboardQueries, tickets: TicketQueries) -> None:
        yn = boards.prefixes("yn")

        def ids(status: str, category: str | None = None, now: int = NOW) -> list[str]:
            page = tickets.tickets(yn, status, category, 1, 50, now)
            assert page.total == len(page.tickets)
            return [t.ticket_id for t in page.tickets]
        assert ids("all") == NEWEST_FIRST
        assert ids("open") == ["T9", "T8", "T3"]
        assert ids("overdue") == ["T3"]
        assert ids("overdue", now=instant(6, 7, 59)) == [] and ids("overdue", now=instant(6, 8, 1)) == ["T3"]
        assert ids("resolved") == ["T5", "T4"]
        assert ids("closed") == ["T2", "T1"]
        assert ids("voided") == ["T6"]
        assert ids("all", "parking") == ["T9", "T6", "T5", "T4", "T3", "T1"]  # T8 recategorised, T2 environment
        assert ids("open", "compound_management") == ["T8"]

    def test_ticket_list_paging_and_scope(self, boards: DashboardQueries, tickets: TicketQueries) -> None:
        page = tickets.tickets(boards.prefixes("yn"), "all", None, 2, 3, NOW)
        assert (page.total, page.page, page.page_size, [t.ticket_id for t in page.tickets]) == (8, 2, 3, ["T5", "T4", "T3"])
        assert [t.ticket_id for t in tickets.tickets(boards.prefixes("yn"), "all", None, 3, 3, NOW).tickets] == ["T2", "T1"]
        assert tickets.tickets(boards.prefixes("yn"), "all", None, 4, 3, NOW).tickets == []

        def ids(org: str) -> list[str]:
            return [t.ticket_id for t in tickets.tickets(boards.prefixes(org), "all", None, 1, 50, NOW).tickets]
        assert ids("ta") == ["T8", "T6", "T4", "T3", "T2", "T1"]
        assert ids("tb") == ["T9", "T5"]
        assert ids("v1") == ["T9", "T4", "T3"]
        assert ids("g1") == ["T1"] and ids("hz") == ["T7"]
        assert tickets.tickets([], "all", None, 1, 50, NOW).total == 0

    def test_ticket_summary(self, boards: DashboardQueries, tickets: TicketQueries) -> None:
        [t3] = tickets.tickets(boards.prefixes("v1"), "overdue", None, 1, 50, NOW).tickets
        assert msgspec.to_builtins(t3) == {
            "ticket_id": "T3", "org_id": "v1", "category": "parking", "title": "ticket T3", "channel": "other", "stage": "accepted",
            "round": 1, "raised_at": iso(5, 8), "deadline": iso(6, 8), "to_unit": "v1", "to_worker": "gw-1", "overdue": True,
            "satisfaction": None}
        [t2] = tickets.tickets(boards.prefixes("c1"), "closed", "environment", 1, 50, NOW).tickets
        assert (t2.stage, t2.round, t2.satisfaction, t2.deadline, t2.overdue) == ("closed", 2, "basically_satisfied", iso(6, 12), False)

    def test_workload_counts_open_dispatched_tickets(self, boards: DashboardQueries, tickets: TicketQueries) -> None:
        load = tickets.workload(boards.prefixes("yn"), NOW)
        # Only T3 is open and dispatched (T8 and T9 were never dispatched).
        assert [(w.receiver, w.kind, w.open, [t.ticket_id for t in w.oldest]) for w in load] == \
            [("v1", "unit", 1, ["T3"]), ("gw-1", "grid_worker", 1, ["T3"])]
        assert tickets.workload(boards.prefixes("hz"), NOW) == [] and tickets.workload([], NOW) == []

    # --- timelines -------------------------------------------------------------------------

    def test_timeline_of_a_returned_and_reopened_ticket(self, tickets: TicketQueries) -> None:
        line = tickets.timeline("T2", NOW)
        assert [e.type for e in line.events] == [
            "TicketRaised", "TicketDispatched", "TicketReturned", "TicketDispatched", "TicketAccepted", "TicketResolved",
            "TicketRated", "TicketDispatched", "TicketAccepted", "TicketResolved", "TicketRated", "TicketClosed"]
        assert [e.hours_since_previous for e in line.events] == [None, 0.25, 0.75, 1.0, 1.0, 21.0, 2.0, 1.0, 1.0, 21.0, 2.0, 1.0]
        assert [(s.stage, s.hours) for s in line.time_in_stage] == [
            ("raised", 0.25), ("dispatched", 2.75), ("returned", 1.0), ("accepted", 42.0), ("resolved", 4.0),
            ("reopened", 1.0), ("rated", 1.0)]
        returned = line.events[2]
        assert (returned.occurred_at, returned.actor_role, returned.actor_id, returned.detail) == \
            (iso(3, 10), "grid_worker", "gw-1", {"reason": "not ours"})
        positions = [e.position for e in line.events]
        assert positions == sorted(positions) and len(set(positions)) == 12
        assert line.ticket.ticket_id == "T2" and line.ticket.stage == "closed"

    def test_timeline_hides_personal_data_and_unknown_tickets(self, tickets: TicketQueries) -> None:
        raised = tickets.timeline("T1", NOW).events[0]
        assert raised.detail["title"] == "ticket T1" and "Resident One" not in str(raised.detail)
        assert not {"ticket_id", "org_id", "event_id", "personal", "sealed"} & set(raised.detail)
        with pytest.raises(NotFound):
            tickets.timeline("T404", NOW)

    def test_trail_index(self, db: Database, boards: DashboardQueries) -> None:
        events = scenario()

        def positions(attr: str, entity: str) -> list[int]:
            return [n for n, (e, _) in enumerate(events, 1) if getattr(e, attr, None) == entity]
        t2 = boards.trail_index("ticket", "T2")
        assert t2.positions == positions("ticket_id", "T2") and len(t2.positions) == 12
        assert t2.position == len(events)
        assert boards.trail_index("dispute", "D1").positions == positions("dispute_id", "D1")
        assert boards.trail_index("topic", "P1").positions == positions("topic_id", "P1")
        assert boards.trail_index("org", "v1").positions == [n for n, (e, _) in enumerate(events, 1)
                                                            if e.org_id == "v1" and e.type.startswith("OrgUnit")]
        assert boards.trail_index("ticket", "T404").positions == []

    # --- casework lists ---------------------------------------------------------------------

    def test_dispute_lists(self, db: Database, boards: DashboardQueries) -> None:
        casework = CaseworkQueries(db, CLOCK)
        yn = casework.disputes(boards.prefixes("yn"), None, END)
        assert yn.total == 3 and [(d.dispute_id, d.org_id, d.registered_at) for d in yn.items] == \
            [("D3", "v2", iso(8, 15)), ("D2", "v1", iso(4, 14)), ("D1", "c1", iso(3, 14))]
        assert msgspec.to_builtins(yn.items[1]) == {
            "dispute_id": "D2", "org_id": "v1", "category": "land", "risk_grade": "yellow", "registered_at": iso(4, 14),
            "sessions": 1, "outcome": "failed", "summary": "boundary"}
        assert yn.items[0].outcome is None and yn.items[0].sessions == 0
        assert [d.dispute_id for d in casework.disputes(boards.prefixes("yn"), date(2026, 3, 3), date(2026, 3, 5)).items] == ["D2", "D1"]
        assert [d.dispute_id for d in casework.disputes(boards.prefixes("tb"), None, END).items] == ["D3"], "D2 stays with ta"
        assert [d.dispute_id for d in casework.disputes(boards.prefixes("v1"), None, END).items] == ["D2"]
        capped = casework.disputes(boards.prefixes("yn"), None, END, limit=1)
        assert capped.total == 3 and [d.dispute_id for d in capped.items] == ["D3"]
        assert casework.disputes([], None, END).total == 0

    def test_topic_lists(self, db: Database, boards: DashboardQueries) -> None:
        casework = CaseworkQueries(db, CLOCK)
        ta = casework.topics(boards.prefixes("ta"), None, END)
        assert ta.total == 2 and [(p.topic_id, p.org_id, p.stage) for p in ta.items] == [("P2", "v1", "proposed"), ("P1", "h1", "implemented")]
        p1 = ta.items[1]
        assert (p1.proposed_at, p1.decision, p1.votes_for, p1.votes_against, p1.votes_abstained) == \
            (iso(2, 20), "two workdays per household", 21, 1, 1)
        assert ta.items[0].votes_for is None
        assert casework.topics(boards.prefixes("tb"), None, END).items == []
        # Whole days in the district's time zone: P1 at 20:00 on 2 March (12:00 UTC) is in 2 March, not 3 March.
        assert [p.topic_id for p in casework.topics(boards.prefixes("yn"), date(2026, 3, 2), date(2026, 3, 2)).items] == ["P1"]
        assert [p.topic_id for p in casework.topics(boards.prefixes("yn"), date(2026, 3, 3), END).items] == ["P2"]

    # --- Open311 requests -------------------------------------------------------------------

    def test_service_requests_by_id(self, db: Database) -> None:
        requests = ServiceRequestQueries(db, CLOCK)
        t6, t2 = requests.by_ids(["T2", "T6", "T404"])
        assert (t6.ticket_id, t6.open, t6.stage, t6.status_notes, t6.agency, t6.deadline) == ("T6", False, "voided", "merged into T2", None, None)
        assert msgspec.to_builtins(t2) == {
            "ticket_id": "T2", "open": False, "stage": "closed", "category": "environment", "description": "ticket T2",
            "status_notes": "cleaned again", "agency": "community c1", "raised_at": iso(3, 9), "updated_at": iso(5, 13),
            "deadline": iso(6, 12), "path": "yn.ta.c1.", "lat": None, "long": None, "address_id": None}
        [t3] = requests.by_ids(["T3"])
        assert (t3.open, t3.status_notes, t3.agency) == (True, None, "village v1")
        assert requests.by_ids([]) == [] and requests.by_ids(["T404"]) == []

    def test_service_requests_by_window_category_and_status(self, db: Database) -> None:
        requests = ServiceRequestQueries(db, CLOCK)

        def ids(start: int, end: int, categories: list[str] | None = None, open_: bool | None = None) -> list[str]:
            return [r.ticket_id for r in requests.raised_between(start, end, categories, open_)]
        days_5_to_7 = (instant(5, 8), instant(7, 14))  # both ends included: T3 at its first instant, T8 at its last
        assert ids(*days_5_to_7) == ["T8", "T7", "T6", "T5", "T4", "T3"]
        assert ids(*days_5_to_7, open_=True) == ["T8", "T3"]
        assert ids(*days_5_to_7, open_=False) == ["T7", "T6", "T5", "T4"]
        assert ids(*days_5_to_7, ["parking"]) == ["T6", "T5", "T4", "T3"]
        assert ids(*days_5_to_7, ["parking", "enterprise_problem"], open_=False) == ["T7", "T6", "T5", "T4"]
        assert ids(instant(5, 8) + 1, instant(7, 14) - 1) == ["T7", "T6", "T5", "T4"]
        assert [r.ticket_id for r in requests.raised_between(instant(1, 0), instant(31, 0), limit=2)] == ["T9", "T8"]

    def test_open311_status_mapping_and_fields(self, db: Database) -> None:
        read = _Read(db)
        window = {"start_date": "2026-03-01T00:00:00+08:00", "end_date": "2026-03-31T00:00:00+08:00"}
        listed = [msgspec.to_builtins(r) for r in open311_query(read, window)]  # type: ignore[arg-type]
        assert [(r["service_request_id"], r["status"]) for r in listed] == [
            ("T9", "open"), ("T8", "open"), ("T7", "closed"), ("T6", "closed"), ("T5", "closed"), ("T4", "closed"),
            ("T3", "open"), ("T2", "closed"), ("T1", "closed")]
        t2 = next(r for r in listed if r["service_request_id"] == "T2")
        assert t2 == {"service_request_id": "T2", "status": "closed", "status_notes": "cleaned again", "service_name": "环境卫生",
                      "service_code": "environment", "description": "ticket T2", "agency_responsible": "community c1",
                      "service_notice": None, "requested_datetime": iso(3, 9), "updated_datetime": iso(5, 13),
                      "expected_datetime": iso(6, 12), "address": None, "address_id": None, "zipcode": None, "lat": None,
                      "long": None, "media_url": None}
        assert [r.service_request_id for r in open311_query(read, {**window, "status": "open"})] == ["T9", "T8", "T3"]  # type: ignore[arg-type]
        assert [r.service_request_id for r in open311_query(read, {**window, "status": "open,closed"})] == \
            [r["service_request_id"] for r in listed]  # type: ignore[arg-type]
        assert [r.service_request_id for r in open311_query(read, {"service_request_id": "T4,T1"})] == ["T4", "T1"]  # type: ignore[arg-type]
        with pytest.raises(Open311Error):
            open311_query(read, {**window, "status": "lost"})  # type: ignore[arg-type]

    # --- audit evidence ---------------------------------------------------------------------

    def test_evidence_cohort_of_a_town(self, db: Database, boards: DashboardQueries) -> None:
        cohort = EvidenceQueries(db, CLOCK).cohort(boards.prefixes("ta"), None, END)
        assert cohort.members == {
            "raised": ["T1", "T2", "T3", "T4", "T8"], "voided": ["T6"],
            "dispatched": ["T1", "T2", "T3", "T4"], "accepted": ["T1", "T2", "T3", "T4"], "resolved": ["T1", "T2", "T4"],
            "closed": ["T1", "T2"], "rated": ["T1", "T2"], "contacted": ["T1", "T2"], "satisfied": ["T1"],
            "basically_satisfied": ["T2"], "reopened": ["T2"], "returned": ["T2"],
            "disputes_registered": ["D1", "D2"], "disputes_mediated": ["D1", "D2"], "disputes_settled": ["D1"],
            "disputes_failed": ["D2"],
            "topics_proposed": ["P1", "P2"], "topics_discussed": ["P1"], "topics_decided": ["P1"], "topics_implemented": ["P1"]}
        assert cohort.ever_dissatisfied == ["T2"] and cohort.of("dissatisfied") == []

    def test_evidence_cohort_of_a_window(self, db: Database, boards: DashboardQueries) -> None:
        evidence = EvidenceQueries(db, CLOCK)
        march_3_to_5 = evidence.cohort(boards.prefixes("yn"), date(2026, 3, 3), date(2026, 3, 5))
        assert march_3_to_5.of("raised") == ["T2", "T3", "T4"] and march_3_to_5.of("resolved") == ["T2", "T4"]
        assert march_3_to_5.of("disputes_registered") == ["D1", "D2"] and march_3_to_5.of("topics_proposed") == []
        tb = evidence.cohort(boards.prefixes("tb"), None, END)
        assert tb.of("raised") == ["T5", "T9"] and tb.of("resolved_late") == ["T5"] and tb.of("disputes_registered") == ["D3"]
        assert tb.ever_dissatisfied == []
        assert evidence.cohort([], None, END) == Cohort()


class TestOnSQLite(QueryScenario):
    @pytest.fixture(scope="class")
    @classmethod
    def db(cls) -> Iterator[Database]:
        db = SQLiteDatabase(Path(":memory:"))
        fold(db)
        yield db
        db.close()


def test_batch_size_does_not_change_any_answer() -> None:
    """One event per batch or all in one: the same read model (the fold is per batch)."""
    answers = []
    for batch in (1, 1000):
        db = SQLiteDatabase(Path(":memory:"))
        fold(db, batch)
        boards, tickets = DashboardQueries(db, CLOCK), TicketQueries(db, CLOCK)
        answers.append(msgspec.json.encode([
            [boards.dashboard(o.org_id, None, END) for o in boards.orgs()],
            tickets.tickets(boards.prefixes("yn"), "all", None, 1, 50, NOW),
            [tickets.timeline(t, NOW) for t in NEWEST_FIRST]]))
        db.close()
    assert answers[0] == answers[1]
