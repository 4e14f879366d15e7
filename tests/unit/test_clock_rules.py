"""The ticket's rules for the clock's events (schemas/clock.py `check`, applied by domain/ticket.py),
through the ledger application: what it accepts, what it refuses and why, and how an on-time event
that reaches the ledger after its breach was recorded is kept (docs/kpis.md, "Deadlines: what the clock records")."""

from __future__ import annotations

from datetime import timedelta

import msgspec
import pytest

import schemas as s
from civic_kit import Desk, T0
from consumers.clock_state import FixedEscalation
from schemas.clock import Deadline, Planned, clock_event_id, step_event

DUE = T0 + timedelta(days=2)
TERMS = FixedEscalation(timedelta(hours=2), (timedelta(hours=0), timedelta(days=1)), timedelta(days=2), ("street",))


@pytest.fixture
def dispatched(tree: Desk) -> Desk:
    tree.raise_ticket("T1")
    tree.ok(tree.ev("TicketDispatched", ticket_id="T1", to_unit="c1", deadline=DUE, at=T0))
    return tree


def step(key: str, round: int = 1, unit: str = "c1", stage: str = "resolve", due: object = DUE) -> s.Event:
    deadline = Deadline(round, unit, "lead", stage, due)  # type: ignore[arg-type]
    at = {p.step_key: p.at for p in TERMS.plan(deadline)}[key]
    return step_event(Planned(key, at), deadline, ticket_id="T1", org_id="c1", chased_by="c1", escalated_to="t1")


def test_the_steps_in_order_are_accepted_and_a_resend_is_a_silent_duplicate(dispatched: Desk) -> None:
    for key in ("reminder", "breach", "chase-1", "chase-2", "supervision"):
        dispatched.ok(step(key))
    again = dispatched.send(step("breach"))
    assert (again.accepted, again.duplicates, again.rejections) == (0, 1, [])


def test_ids_derive_from_the_deadline_and_the_step_only() -> None:
    assert step("breach").event_id == clock_event_id("T1", 1, "c1", "resolve", "breach", DUE) == \
        f"clock:T1:1:c1:resolve:{int(DUE.timestamp())}:breach"
    assert s.encode(step("chase-2")) == s.encode(step("chase-2"))
    long = clock_event_id("T" * 64, 1, "u" * 64, "resolve", "breach", DUE)
    assert len(long) <= 128 and long.endswith(":breach")


def test_a_breach_of_a_ticket_resolved_on_time_is_refused(dispatched: Desk) -> None:
    dispatched.ok(dispatched.ev("TicketAccepted", ticket_id="T1", at=DUE - timedelta(hours=5)),
                  dispatched.ev("TicketResolved", ticket_id="T1", at=DUE))  # at the deadline itself: on time
    rejection = dispatched.refused(step("breach"), "deadline_met")
    assert "TicketResolved" in rejection.detail


def test_a_late_resolution_recorded_before_the_clock_caught_up_is_still_breached(dispatched: Desk) -> None:
    dispatched.ok(dispatched.ev("TicketAccepted", ticket_id="T1", at=DUE - timedelta(hours=5)),
                  dispatched.ev("TicketResolved", ticket_id="T1", at=DUE + timedelta(hours=3)))
    dispatched.ok(step("breach"), step("chase-1"))  # both fired before the resolution
    dispatched.refused(step("chase-2"), "deadline_met")  # a day later it was resolved


@pytest.mark.parametrize("finish", ["TicketClosed", "TicketVoided"])
def test_a_finished_ticket_takes_what_the_clock_records_of_before_it_finished(dispatched: Desk, finish: str) -> None:
    """The clock catching up on history (the demo's year in a minute) reads a ticket's breach before
    its closing, while the ledger has already closed it: the breach happened, and is kept; what
    would have fired after the ticket finished is refused, by the deadline, not by the stage."""
    dispatched.ok(dispatched.ev("TicketAccepted", ticket_id="T1", at=DUE - timedelta(hours=5)),
                  dispatched.ev("TicketResolved", ticket_id="T1", at=DUE + timedelta(hours=3)))
    if finish == "TicketClosed":
        dispatched.ok(dispatched.ev("TicketClosed", ticket_id="T1", at=DUE + timedelta(hours=4)))
    else:
        dispatched.raise_ticket("T9")
        dispatched.ok(dispatched.ev("TicketVoided", ticket_id="T1", duplicate_of="T9", at=DUE + timedelta(hours=4)))
    dispatched.ok(step("breach"), step("chase-1"))
    assert "TicketResolved" in dispatched.refused(step("chase-2"), "deadline_met").detail
    assert dispatched.refused(dispatched.ev("TicketProgressNoted", ticket_id="T1", note="-"), "ticket_finished")


@pytest.mark.parametrize(("event", "code"), [
    (lambda: step("chase-1"), "not_escalated"),
    (lambda: step("supervision"), "not_escalated"),
    (lambda: step("breach", due=DUE + timedelta(hours=1)), "unknown_deadline"),
    (lambda: step("breach", unit="c2"), "unknown_deadline"),
    (lambda: step("breach", round=2), "unknown_deadline"),
    (lambda: step("breach", stage="sign_for"), "unknown_deadline"),  # this dispatch set no sign-for deadline
    (lambda: msgspec.structs.replace(step("breach"), occurred_at=DUE - timedelta(seconds=1)), "not_due"),
    (lambda: msgspec.structs.replace(step("breach"), actor=s.Actor(role="dispatcher", id="d")), "role_not_allowed"),
])
def test_what_the_ticket_refuses(dispatched: Desk, event, code: str) -> None:  # type: ignore[no-untyped-def]
    dispatched.refused(event(), code)


def test_a_second_chase_needs_the_first(dispatched: Desk) -> None:
    dispatched.ok(step("breach"))
    dispatched.refused(step("chase-2"), "not_escalated")


def test_an_on_time_event_arriving_after_its_breach_is_kept_and_ends_the_escalation(dispatched: Desk) -> None:
    """The unit resolved it before the deadline but the report reached the ledger after the clock
    had recorded the breach: the resolution is accepted as it is (its occurred_at kept), the breach
    stays (history is not rewritten), and nothing more escalates: the chase is refused."""
    dispatched.ok(step("reminder"), step("breach"))
    dispatched.ok(dispatched.ev("TicketAccepted", ticket_id="T1", at=DUE - timedelta(hours=3)),
                  dispatched.ev("TicketResolved", ticket_id="T1", at=DUE - timedelta(hours=1)))
    dispatched.refused(step("chase-2"), "deadline_met")
    book = dispatched.get("ticket", "T1").deadlines
    deadline = book.deadlines[(1, "c1", "resolve")]
    assert deadline.met_at == DUE - timedelta(hours=1) and deadline.steps == {"reminder", "breach"}


def test_a_reopened_ticket_starts_a_new_clock_and_the_old_round_keeps_its_own(dispatched: Desk) -> None:
    dispatched.ok(dispatched.ev("TicketAccepted", ticket_id="T1", at=T0 + timedelta(hours=1)),
                  dispatched.ev("TicketResolved", ticket_id="T1", at=DUE + timedelta(hours=5)),
                  dispatched.ev("TicketReopened", ticket_id="T1", at=DUE + timedelta(hours=6)))
    dispatched.ok(step("breach"))  # round 1 was resolved late: its breach is still recorded
    due2 = DUE + timedelta(days=3)
    dispatched.ok(dispatched.ev("TicketDispatched", ticket_id="T1", to_unit="c1", deadline=due2, at=DUE + timedelta(hours=7)))
    dispatched.ok(step("breach", round=2, due=due2))


def test_a_supporting_task_left_undone_stops_with_its_round(tree: Desk) -> None:
    """c2's task (due a day after the lead's) is not done when the resident reopens the ticket:
    that round's clocks stop there; a breach of the task dated after the reopen is refused."""
    tree.raise_ticket("T1")
    task_due = DUE + timedelta(days=1)
    tree.ok(tree.ev("TicketDispatched", ticket_id="T1", to_unit="c1", deadline=DUE, at=T0,
                    supporting=(s.SupportingTask(unit="c2", task="clear the drain", deadline=task_due),)))
    tree.ok(tree.ev("TicketAccepted", ticket_id="T1", at=T0 + timedelta(hours=1)),
            tree.ev("TicketResolved", ticket_id="T1", at=T0 + timedelta(hours=5)),
            tree.ev("TicketReopened", ticket_id="T1", at=T0 + timedelta(hours=6)))
    task = Deadline(1, "c2", "supporting", "supporting", task_due)
    breach = step_event(Planned("breach", task_due), task, ticket_id="T1", org_id="c1", chased_by="c1", escalated_to=None)
    assert tree.refused(breach, "deadline_met").detail.startswith("supporting was stopped by TicketReopened")
