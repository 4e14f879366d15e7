"""Deadlines at dispatch, extensions, pauses, lead and supporting units: the ledger's and the
aggregate's rules, on an in-memory ledger with the shipped policy (config/deadlines.yaml,
version 2026.11-1) and the official 2026 calendar."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
import pytest

import schemas as s
from civic_kit import Desk

CN = ZoneInfo("Asia/Shanghai")
VERSION = "2026.11-1"


def at(mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(2026, mo, d, h, mi, tzinfo=CN)


MON = at(3, 2, 10)  # Monday 2 March 2026, 10:00
TASK = s.SupportingTask(unit="c2", task="cut back the trees by the lamp")


def last(desk: Desk, cls: type[s.Event]) -> Any:
    return [e for e in desk.stored_events() if isinstance(e, cls)][-1]


def dispatch(desk: Desk, when: datetime = MON, ticket: str = "T1", **kw: Any) -> s.TicketDispatched:
    kw.setdefault("deadline", None)
    desk.ok(desk.ev("TicketDispatched", ticket_id=ticket, at=when, **kw))
    stored = last(desk, s.TicketDispatched)
    assert isinstance(stored, s.TicketDispatched)
    return stored


# -- the deadline at dispatch ---------------------------------------------------------------------

def test_a_dispatch_without_deadlines_gets_the_policys_with_its_version(tree: Desk) -> None:
    tree.raise_ticket("T1", category="parking")
    stored = dispatch(tree)  # to community c1: parking, 5 working days, sign for in 4 h, contact in 24 h
    assert stored.deadline == at(3, 9, 10)  # Mon 10:00 + 35 office hours = next Monday 10:00
    assert stored.sign_for_by == at(3, 2, 14) and stored.contact_by == at(3, 3, 10)
    assert stored.policy_version == VERSION and stored.counting == "working_days"
    assert stored.filled == ("deadline", "sign_for_by", "contact_by", "counting", "policy_version")
    assert tree.get("ticket", "T1").deadline == stored.deadline


def test_an_explicit_deadline_is_kept(tree: Desk) -> None:
    tree.raise_ticket("T1")
    stored = dispatch(tree, deadline=at(3, 4, 18))
    assert stored.deadline == at(3, 4, 18) and stored.counting == "hours"
    assert "deadline" not in stored.filled and stored.policy_version == VERSION  # the other two were filled
    everything = dict(deadline=at(3, 4, 18), sign_for_by=at(3, 2, 12), contact_by=at(3, 2, 16))
    tree.ok(tree.ev("TicketReturned", ticket_id="T1", at=MON + timedelta(minutes=5)))
    stored = dispatch(tree, when=MON + timedelta(minutes=10), **everything)
    assert (stored.policy_version, stored.filled) == (None, ())


def test_the_terms_follow_category_and_the_lead_units_level(tree: Desk) -> None:
    tree.raise_ticket("T1", category="water_and_power")  # calendar hours, night and day
    stored = dispatch(tree, when=at(3, 6, 20), to_unit="g1")  # a Friday evening, to a grid
    assert stored.deadline == at(3, 7, 20) and stored.sign_for_by == at(3, 6, 21) and stored.counting == "hours"
    tree.raise_ticket("T2", category="parking")
    stored = dispatch(tree, ticket="T2", when=at(3, 6, 20), to_unit="g1")
    assert stored.sign_for_by == at(3, 6, 22)  # the grid's two hours
    assert stored.deadline == at(3, 13, 17, 30)  # five working days from Monday morning: Friday's close


def test_a_resend_without_the_deadline_is_a_duplicate(tree: Desk) -> None:
    tree.raise_ticket("T1")
    event = tree.ev("TicketDispatched", ticket_id="T1", at=MON, deadline=None)
    tree.ok(event)
    again = tree.send(event)
    assert (again.accepted, again.duplicates, again.rejections) == (0, 1, [])
    changed = msgspec.structs.replace(event, deadline=at(3, 20))
    assert tree.codes(changed) == ["conflicting_duplicate"]


@pytest.mark.parametrize("fields", [dict(policy_version="mine"), dict(filled=("deadline",)), dict(counting="working_days")])
def test_a_producer_cannot_write_what_the_ledger_fills(tree: Desk, fields: dict[str, Any]) -> None:
    tree.raise_ticket("T1")
    tree.refused(tree.ev("TicketDispatched", ticket_id="T1", at=MON, **fields), "sealed_by_producer")


def test_a_producer_cannot_write_the_resumed_deadlines(tree: Desk) -> None:
    tree.raise_ticket("T1")
    dispatch(tree)
    tree.ok(tree.ev("TicketPaused", ticket_id="T1", at=MON + timedelta(hours=1)))
    forged = tree.ev("TicketResumed", ticket_id="T1", at=MON + timedelta(hours=2),
                     deadlines=(s.UnitDeadline(unit=None, deadline=at(12, 31)),))
    tree.refused(forged, "sealed_by_producer")


# -- extensions ---------------------------------------------------------------------------------

def test_an_approved_extension_moves_the_deadline_and_a_refused_one_leaves_it(tree: Desk) -> None:
    tree.raise_ticket("T1")
    stored = dispatch(tree)
    ask = tree.ev("TicketExtensionRequested", ticket_id="T1", at=at(3, 3, 9), until=at(3, 16, 17, 30))
    tree.ok(ask)
    tree.refused(tree.ev("TicketExtensionRequested", ticket_id="T1", at=at(3, 3, 10), until=at(3, 17)), "extension_pending")
    tree.ok(tree.ev("TicketExtensionRefused", ticket_id="T1", at=at(3, 3, 11), request_id=ask.event_id, reason="no"))
    assert tree.get("ticket", "T1").deadline == stored.deadline
    ask = tree.ev("TicketExtensionRequested", ticket_id="T1", at=at(3, 4, 9), until=at(3, 16, 17, 30))
    tree.ok(ask)
    tree.refused(tree.ev("TicketExtensionApproved", ticket_id="T1", at=at(3, 4, 10), request_id=ask.event_id,
                         until=at(3, 17)), "bad_extension")  # more than was asked
    tree.refused(tree.ev("TicketExtensionApproved", ticket_id="T1", at=at(3, 4, 10), request_id="ev-nope",
                         until=at(3, 12)), "no_extension_request")
    tree.refused(tree.ev("TicketExtensionApproved", ticket_id="T1", at=at(3, 4, 10), request_id=ask.event_id,
                         until=at(3, 12), role="grid_worker"), "role_not_allowed")
    tree.ok(tree.ev("TicketExtensionApproved", ticket_id="T1", at=at(3, 4, 10), request_id=ask.event_id, until=at(3, 12)))
    assert tree.get("ticket", "T1").deadline == at(3, 12)
    tree.refused(tree.ev("TicketExtensionRefused", ticket_id="T1", at=at(3, 4, 11), request_id=ask.event_id,
                         reason="twice"), "no_extension_request")


def test_who_may_ask_and_for_what(tree: Desk) -> None:
    tree.raise_ticket("T1")
    dispatch(tree, deadline=at(3, 6, 17))
    tree.refused(tree.ev("TicketExtensionRequested", ticket_id="T1", at=at(3, 3), until=at(3, 9), role="dispatcher"),
                 "role_not_allowed")
    tree.refused(tree.ev("TicketExtensionRequested", ticket_id="T1", at=at(3, 3), until=at(3, 6, 12)), "bad_extension")
    tree.refused(tree.ev("TicketExtensionRequested", ticket_id="T1", at=at(3, 3), until=at(3, 9), unit="t1"),
                 "not_supporting_unit")
    tree.ok(tree.ev("TicketExtensionRequested", ticket_id="T1", at=at(3, 3), until=at(3, 9), unit="c1"))  # the lead, by name


# -- pauses ----------------------------------------------------------------------------------------

def test_a_pause_over_a_public_holiday(tree: Desk) -> None:
    """Working days: the pause from Wed 30 Sep to Thu 8 Oct 09:00 takes only the office hours it
    covers (5 h on 30 Sep, 1 h on 8 Oct); the National Day week would not have counted anyway."""
    tree.raise_ticket("T1", category="parking")
    stored = dispatch(tree, when=at(9, 29, 10))
    assert stored.deadline == at(10, 12, 10)  # 35 office hours, skipping 1-7 Oct, the make-up Saturday worked
    tree.ok(tree.ev("TicketPaused", ticket_id="T1", at=at(9, 30, 10), reason="the resident is away for the holiday"))
    tree.refused(tree.ev("TicketPaused", ticket_id="T1", at=at(9, 30, 11), reason="again"), "already_paused")
    tree.ok(tree.ev("TicketResumed", ticket_id="T1", at=at(10, 8, 9)))
    resumed = last(tree, s.TicketResumed)
    assert resumed.deadlines == (s.UnitDeadline(unit=None, deadline=at(10, 13, 9)),) and resumed.filled == ("deadlines",)
    assert tree.get("ticket", "T1").deadline == at(10, 13, 9)
    tree.refused(tree.ev("TicketResumed", ticket_id="T1", at=at(10, 8, 10)), "not_paused")


def test_a_pause_in_calendar_hours_adds_its_length(tree: Desk) -> None:
    tree.raise_ticket("T1")
    dispatch(tree, deadline=MON + timedelta(hours=48))
    tree.ok(tree.ev("TicketPaused", ticket_id="T1", at=MON + timedelta(hours=10), reason="away"))
    tree.ok(tree.ev("TicketResumed", ticket_id="T1", at=MON + timedelta(hours=40)))
    assert tree.get("ticket", "T1").deadline == MON + timedelta(hours=78)


def test_no_pause_on_a_closed_or_resolved_ticket(tree: Desk) -> None:
    tree.drive_ticket("closed", "T1")
    tree.refused(tree.ev("TicketPaused", ticket_id="T1", reason="away"), "ticket_finished")
    tree.drive_ticket("resolved", "T2")
    tree.refused(tree.ev("TicketPaused", ticket_id="T2", reason="away"), "wrong_stage")


def test_a_reopened_ticket_starts_a_new_clock(tree: Desk) -> None:
    tree.raise_ticket("T1", category="parking")
    first = dispatch(tree)
    tree.ok(tree.ev("TicketPaused", ticket_id="T1", at=at(3, 2, 11), reason="away"))
    tree.ok(tree.ev("TicketAccepted", ticket_id="T1", at=at(3, 2, 12)))
    tree.ok(tree.ev("TicketResolved", ticket_id="T1", at=at(3, 3, 9)))
    tree.ok(tree.ev("TicketReopened", ticket_id="T1", at=at(3, 10, 9)))
    second = dispatch(tree, when=at(3, 10, 10))
    assert second.deadline == at(3, 17, 10) != first.deadline
    ticket = tree.get("ticket", "T1")
    assert (ticket.round, ticket.deadline, ticket.paused_since) == (2, second.deadline, None)  # the pause ended with its round


# -- lead and supporting units -------------------------------------------------------------------

def test_a_lead_and_two_supporting_units_each_with_their_own_clock(tree: Desk) -> None:
    tree.raise_ticket("T1", category="parking")
    own = s.SupportingTask(unit="t1", task="the town's road team", deadline=at(3, 4, 12))
    stored = dispatch(tree, supporting=(TASK, own))
    assert stored.supporting[0].deadline == at(3, 5, 10) and stored.supporting[0].sign_for_by == at(3, 2, 14)
    assert stored.supporting[1].deadline == at(3, 4, 12)  # its own, as sent
    assert "supporting.0.deadline" in stored.filled and "supporting.1.deadline" not in stored.filled
    tree.refused(tree.ev("TicketTaskAccepted", ticket_id="T1", unit="g1"), "not_supporting_unit")
    tree.ok(tree.ev("TicketTaskAccepted", ticket_id="T1", unit="c2", at=at(3, 2, 11)))
    tree.refused(tree.ev("TicketTaskAccepted", ticket_id="T1", unit="c2", at=at(3, 2, 12)), "already_signed_for")
    tree.refused(tree.ev("TicketAccepted", ticket_id="T1", unit="c2", at=at(3, 2, 12)), "not_lead_unit")
    tree.ok(tree.ev("TicketAccepted", ticket_id="T1", unit="c1", at=at(3, 2, 13)))
    # an extension of a supporting unit's task moves its clock only
    ask = tree.ev("TicketExtensionRequested", ticket_id="T1", unit="c2", at=at(3, 3, 9), until=at(3, 6, 17, 30))
    tree.ok(ask)
    tree.ok(tree.ev("TicketExtensionApproved", ticket_id="T1", request_id=ask.event_id, until=at(3, 6, 17, 30), at=at(3, 3, 10)))
    ticket = tree.get("ticket", "T1")
    assert ticket.tasks["c2"].deadline == at(3, 6, 17, 30) and ticket.deadline == stored.deadline
    # a pause stops the clocks still running; a completed task's stays
    tree.ok(tree.ev("TicketTaskCompleted", ticket_id="T1", unit="t1", at=at(3, 3, 11), result="road patched"))
    tree.refused(tree.ev("TicketTaskCompleted", ticket_id="T1", unit="t1", at=at(3, 3, 12)), "task_completed")
    tree.ok(tree.ev("TicketPaused", ticket_id="T1", at=at(3, 3, 14, 30), reason="away"))
    tree.ok(tree.ev("TicketResumed", ticket_id="T1", at=at(3, 4, 14, 30)))
    assert [d.unit for d in last(tree, s.TicketResumed).deadlines] == [None, "c2"]
    ticket = tree.get("ticket", "T1")
    assert ticket.deadline == at(3, 10, 10) and ticket.tasks["c2"].deadline == at(3, 9, 17, 30)
    assert ticket.tasks["t1"].deadline == at(3, 4, 12)
    # a supporting unit does not resolve the ticket; the lead does, with a task still open
    tree.refused(tree.ev("TicketResolved", ticket_id="T1", unit="c2", at=at(3, 5, 9)), "not_lead_unit")
    tree.ok(tree.ev("TicketResolved", ticket_id="T1", unit="c1", at=at(3, 5, 10)))
    assert tree.get("ticket", "T1").stage == "resolved"
    tree.ok(tree.ev("TicketTaskCompleted", ticket_id="T1", unit="c2", at=at(3, 5, 11)))  # late work is still recorded


@pytest.mark.parametrize("supporting, code", [
    ((TASK, TASK), "bad_supporting"),
    ((s.SupportingTask(unit="c1", task="lead twice"),), "bad_supporting"),
    ((s.SupportingTask(unit="nowhere", task="who?"),), "unknown_org"),
    ((s.SupportingTask(unit="c2", task="late", deadline=MON - timedelta(hours=1)),), "bad_deadline"),
])
def test_bad_supporting_units(tree: Desk, supporting: tuple[s.SupportingTask, ...], code: str) -> None:
    tree.raise_ticket("T1")
    tree.refused(tree.ev("TicketDispatched", ticket_id="T1", at=MON, deadline=None, supporting=supporting), code)


def test_an_answer_names_the_clock_its_request_was_about(tree: Desk) -> None:
    tree.raise_ticket("T1")
    dispatch(tree, supporting=(TASK,))
    for n, (unit, answer) in enumerate([("c2", "TicketExtensionApproved"), (None, "TicketExtensionRefused")]):
        ask = tree.ev("TicketExtensionRequested", ticket_id="T1", unit=unit, at=at(3, 3, 9 + n), until=at(3, 20))
        tree.ok(ask)
        extra = dict(until=at(3, 19)) if answer.endswith("Approved") else dict(reason="no")
        tree.ok(tree.ev(answer, ticket_id="T1", request_id=ask.event_id, at=at(3, 3, 9 + n, 30), **extra))
        stored = last(tree, s.EVENTS_BY_TYPE[answer])
        assert (stored.unit, stored.filled) == ((unit, ("unit",)) if unit else (None, ()))
    tree.refused(tree.ev("TicketExtensionRefused", ticket_id="T1", request_id="ev-1", reason="no", unit="c2"),
                 "sealed_by_producer")


def test_the_sdk_refuses_what_the_ledger_writes_before_sending() -> None:
    from civic_kit import make
    from producers.outcome import Checked, check

    result = check(make("TicketDispatched", policy_version="mine"))
    assert not isinstance(result, Checked) and not result.accepted
    assert result.reason == "sealed_by_producer: only the ledger writes policy_version" and result.field == "policy_version"
    assert isinstance(check(make("TicketDispatched", deadline=None)), Checked)


def test_the_read_models_overdue_follows_the_deadline_as_it_stands(tree: Desk, tmp_path: Any) -> None:
    """An approved extension of the lead's deadline and a pause move the deadline the dashboards'
    "overdue" counts from (docs/kpis.md#overdue); a supporting unit's extension does not."""
    from projections.dashboard import DashboardProjection, create_schema
    from projections.facts import Clock
    from projections.queries import TicketQueries
    from projections.store import SQLiteDatabase

    tree.raise_ticket("T1")
    dispatch(tree, deadline=at(3, 4, 18), supporting=(TASK,))
    db = SQLiteDatabase(tmp_path / "dashboard.sqlite")
    create_schema(db)
    projection, queries = DashboardProjection(db), TicketQueries(db, Clock("Asia/Shanghai"))
    applied = 0

    def deadline(now: datetime) -> tuple[str | None, bool]:
        nonlocal applied
        events = tree.stored_events()
        projection.apply(list(enumerate(events, 1))[applied:])
        applied = len(events)
        summary = queries.timeline("T1", int(now.timestamp())).ticket
        return summary.deadline, summary.overdue

    assert deadline(at(3, 5)) == (at(3, 4, 18).isoformat(), True)
    ask = tree.ev("TicketExtensionRequested", ticket_id="T1", unit="c2", at=at(3, 3), until=at(3, 20))
    tree.ok(ask, tree.ev("TicketExtensionApproved", ticket_id="T1", request_id=ask.event_id, until=at(3, 20), at=at(3, 3, 1)))
    assert deadline(at(3, 5)) == (at(3, 4, 18).isoformat(), True)
    ask = tree.ev("TicketExtensionRequested", ticket_id="T1", at=at(3, 3, 2), until=at(3, 6, 18))
    tree.ok(ask, tree.ev("TicketExtensionApproved", ticket_id="T1", request_id=ask.event_id, until=at(3, 6, 18), at=at(3, 3, 3)))
    assert deadline(at(3, 5)) == (at(3, 6, 18).isoformat(), False)
    tree.ok(tree.ev("TicketPaused", ticket_id="T1", at=at(3, 4, 18), reason="away"),
            tree.ev("TicketResumed", ticket_id="T1", at=at(3, 5, 18)))
    assert deadline(at(3, 7)) == (at(3, 7, 18).isoformat(), False)


NEW_TYPES = ("TicketContacted", "TicketExtensionRequested", "TicketExtensionApproved", "TicketExtensionRefused",
             "TicketPaused", "TicketResumed", "TicketTaskAccepted", "TicketTaskCompleted")


@pytest.mark.parametrize("event_type", NEW_TYPES)
def test_the_producers_local_check_takes_the_new_events(event_type: str) -> None:
    """The SDK and `civic emit` validate through this check (producers/outcome.py); the gateway and
    the ledger decode with the same schemas.decode, so what passes here passes there."""
    from civic_kit import make
    from producers.outcome import Checked, check

    event = make(event_type)
    checked = check(event)
    assert isinstance(checked, Checked) and checked.event == event and checked.data == s.encode(event)
