"""The deadlines the ledger writes into the events it stores: at dispatch, every deadline the
producer left out, from the deadline policy (schemas/policy.py) on the working-day calendar
(schemas/calendar.py), with the policy's version; at a resumption, the deadlines as they now
stand. What is stored is what everyone reads afterwards (the aggregate, the clock, the read
models, replay): none of them consults the policy, the calendar or a clock again.

The producer's own values are kept; the names of the filled fields go into the event's
`filled`, so a producer's resend (without them) is still the same event (schemas/base.py as_sent).
"""

from __future__ import annotations

import msgspec

from domain.ticket import Ticket
from schemas.policy import DeadlineRules, Stage
from schemas.ticket import TicketDispatched, TicketExtensionApproved, TicketExtensionRefused, TicketResumed, UnitDeadline


LEAD_CLOCKS: tuple[tuple[str, Stage], ...] = (("deadline", "resolve"), ("sign_for_by", "sign_for"), ("contact_by", "first_contact"))
"""A dispatch's deadline fields and the policy's stage each is computed from."""
TASK_CLOCKS: tuple[tuple[str, Stage], ...] = (("deadline", "supporting"), ("sign_for_by", "sign_for"))
"""A supporting task's, likewise."""


def fill_dispatch(event: TicketDispatched, ticket: Ticket, level: str | None, rules: DeadlineRules) -> TicketDispatched:
    """The dispatch with its missing deadlines computed from the terms for the ticket's category
    and the kind (`level`) of the lead unit, counted from the dispatch."""
    terms = rules.terms(ticket.category, level)
    start = event.occurred_at
    changes: dict[str, object] = {}
    filled: list[str] = []
    for field, stage in LEAD_CLOCKS:
        if getattr(event, field) is None:
            changes[field] = rules.due(start, terms.allowance(stage))
            filled.append(field)
    tasks = []
    for i, task in enumerate(event.supporting):
        own: dict[str, object] = {}
        for field, stage in TASK_CLOCKS:
            if getattr(task, field) is None:
                own[field] = rules.due(start, terms.allowance(stage))
                filled.append(f"supporting.{i}.{field}")
        tasks.append(msgspec.structs.replace(task, **own) if own else task)
    if not filled:
        return event
    if tasks:
        changes["supporting"] = tuple(tasks)
    if "deadline" in changes and terms.allowance("resolve").basis != event.counting:
        # A pause moves a policy deadline on the basis it was set on (working time for working days).
        changes["counting"] = terms.allowance("resolve").basis
        filled.append("counting")
    changes["policy_version"] = rules.version
    filled.append("policy_version")
    return msgspec.structs.replace(event, **changes, filled=tuple(filled))


def fill_resumed(event: TicketResumed, ticket: Ticket, rules: DeadlineRules) -> TicketResumed:
    """The resumption with the deadlines of the clocks the pause stopped, as they now stand: the
    time that was left when it paused, counted again from now (schemas/calendar.resumed_deadline)."""
    paused = ticket.paused_since
    assert paused is not None  # Ticket.decide refused a resumption of a ticket that is not paused
    deadlines = []
    for unit in ticket.running():
        deadline = ticket.deadline_of(unit)
        if deadline is not None:
            moved = rules.resumed(deadline, ticket.counting, paused, event.occurred_at)
            deadlines.append(UnitDeadline(unit=unit, deadline=moved))
    return msgspec.structs.replace(event, deadlines=tuple(deadlines), filled=("deadlines",))


def fill_decision(event: TicketExtensionApproved | TicketExtensionRefused, ticket: Ticket
                  ) -> TicketExtensionApproved | TicketExtensionRefused:
    """The answer to an extension request with the clock it is about, as the request named it,
    so that readers need not match requests and answers."""
    unit = ticket.requested(event.request_id)
    return msgspec.structs.replace(event, unit=unit, filled=("unit",)) if unit is not None else event
