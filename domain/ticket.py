"""Ticket: a micro-list item through the four orders 点单 → 派单 → 接单 → 评单.

Which event may follow which stage, who may record it and what it does to the stage and the
round is the lifecycle table (schemas/lifecycle.py); this aggregate applies it and adds the
rules that need the ticket's own history or facts: one rating per round, a dispatch's
assignee and deadlines, a void that does not point at itself, a transfer from the unit the
ticket stands at to another; and the clocks of its current dispatch (issue 13): the lead unit
(主办) and the supporting units (协办) with their own tasks and deadlines, extensions (one
pending request per deadline, approved later than the deadline now and no later than asked),
pauses while waiting for the resident. The deadlines themselves are computed by the ledger
(application/timekeeping.py) and read here from the stored facts only. A clock event is only
about a deadline the ticket has and did not meet (schemas/clock.py keeps the deadlines per
round, unit and stage: the same fold the clock runs).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.aggregate import CivicAggregate
from domain.refusal import Refused, require
from schemas import TicketDispatched, TicketRaised, TicketRated, TicketRecategorised, TicketVoided
from schemas import lifecycle
from schemas.base import Event
from schemas.calendar import Basis
from schemas.clock import DeadlineBook, DeadlineEvent, check as deadline_check
from schemas.ticket import (
    TicketAccepted, TicketEvent, TicketExtensionApproved, TicketExtensionRefused, TicketExtensionRequested,
    TicketPaused, TicketResolved, TicketResumed, TicketTaskAccepted, TicketTaskCompleted, TicketTransferred,
)

LEAD = None
"""The key of the lead unit's clock among a dispatch's deadlines (a supporting unit's is its id)."""


@dataclass
class Task:
    """A supporting unit's task on the current dispatch."""

    deadline: datetime | None
    """Always set in a stored dispatch (the ledger fills it); None only for an event never stored."""
    signed_for: bool = False
    completed: bool = False


@dataclass(frozen=True)
class Request:
    """An extension request awaiting a decision."""

    event_id: str
    until: datetime


class Ticket(CivicAggregate):
    events = TicketEvent
    creators = lifecycle.RULES[TicketRaised].roles

    def _dispatch(self, lead: str | None, deadline: datetime | None, counting: Basis, tasks: dict[str, Task]) -> None:
        """A dispatch starts new clocks: whatever the previous one had (pause, requests) ends.
        (Attributes, not class annotations: the library's metaclass would make those __init__ arguments.)"""
        self.lead: str | None = lead
        """The lead unit (主办)."""
        self.deadline: datetime | None = deadline
        """The lead's resolve deadline as it stands (after extensions and pauses)."""
        self.counting: Basis = counting
        self.tasks: dict[str, Task] = tasks
        """Supporting unit -> its task."""
        self.requests: dict[str | None, Request] = {}
        """Clock (LEAD or a supporting unit) -> its extension request awaiting a decision."""
        self.paused_since: datetime | None = None

    def when(self, fact: Event) -> None:
        match fact:
            case TicketRaised():
                self.ticket_id, self.org_id, self.category = fact.ticket_id, fact.org_id, fact.category
                self.round, self.rated_rounds = lifecycle.FIRST_ROUND, set()
                self._dispatch(None, None, "hours", {})
                self.deadlines = DeadlineBook()
            case TicketRated():
                self.rated_rounds.add(self.round)  # the round it rates, before a dissatisfied rating starts the next
            case TicketRecategorised():
                self.category = fact.category
            case TicketTransferred():
                self.org_id = fact.to_org_id
            case TicketDispatched():
                self._dispatch(fact.to_unit, fact.deadline, fact.counting,
                               {t.unit: Task(t.deadline) for t in fact.supporting})
            case TicketExtensionRequested():
                self.requests[fact.unit if fact.unit != self.lead else LEAD] = Request(fact.event_id, fact.until)
            case TicketExtensionApproved():
                unit = self.requested(fact.request_id)
                self.requests.pop(unit)
                self._move(unit, fact.until)
            case TicketExtensionRefused():
                self.requests.pop(self.requested(fact.request_id))
            case TicketPaused():
                self.paused_since = fact.occurred_at
            case TicketResumed():
                self.paused_since = None
                for d in fact.deadlines:
                    self._move(d.unit, d.deadline)
            case TicketTaskAccepted():
                self.tasks[fact.unit].signed_for = True
            case TicketTaskCompleted():
                self.tasks[fact.unit].completed = True
        self.deadlines.apply(fact)
        stage, new_round = lifecycle.move(fact.type, fact.__getattribute__)
        if stage is not None:
            self.stage = stage
        if new_round:
            self.round += 1

    def _move(self, unit: str | None, deadline: datetime) -> None:
        if unit is LEAD:
            self.deadline = deadline
        else:
            self.tasks[unit].deadline = deadline

    def requested(self, request_id: str) -> str | None:
        """The clock (LEAD or a supporting unit) whose pending request `request_id` is; Refused if none awaits a decision."""
        for unit, request in self.requests.items():
            if request.event_id == request_id:
                return unit
        raise Refused("no_extension_request", f"no extension request {request_id} awaits a decision on ticket {self.ticket_id}")

    def deadline_of(self, unit: str | None) -> datetime | None:
        """The deadline of the lead's clock (LEAD) or of a supporting unit's task, as it stands."""
        return self.deadline if unit is LEAD else self.tasks[unit].deadline

    def running(self) -> list[str | None]:
        """The clocks a pause stops: the lead's, and each supporting task not yet completed."""
        return [LEAD, *(unit for unit, task in self.tasks.items() if not task.completed)]

    def decide(self, event: Event) -> None:
        """Refuses what this ticket's history does not allow. Cross-aggregate checks (the unit a
        dispatch names, the ticket a void points to) are made by the ledger."""
        rule = lifecycle.RULES[type(event)]
        require(event.actor.role in rule.roles, "role_not_allowed", f"a {event.actor.role} may not record {event.type}")
        require(not event.creates, self.events.family.exists_code, f"ticket {self.ticket_id} was already raised")
        require(self.stage not in lifecycle.FINAL or self.stage in rule.after, "ticket_finished",
                f"ticket {self.ticket_id} is {self.stage}")
        require(self.stage in rule.after, "wrong_stage", f"{event.type} cannot follow stage {self.stage!r}")
        match event:
            case TicketDispatched():
                require(event.to_unit or event.to_worker, "no_assignee")
                require(event.deadline is None or event.deadline > event.occurred_at, "bad_deadline")
                units = [t.unit for t in event.supporting]
                require(len(set(units)) == len(units) and event.to_unit not in units, "bad_supporting",
                        "a supporting unit is named twice, or is the lead unit")
                for t in event.supporting:
                    require(t.deadline is None or t.deadline > event.occurred_at, "bad_deadline",
                            f"the task of {t.unit} is due before the dispatch")
            case TicketRated():
                require(self.round not in self.rated_rounds, "already_rated")
            case TicketVoided():
                require(event.duplicate_of != self.ticket_id, "bad_duplicate", "a ticket cannot duplicate itself")
            case DeadlineEvent():
                refusal = deadline_check(self.deadlines, event)
                require(refusal is None, *(refusal or ("", "")))
            case TicketTransferred():
                require(event.from_org_id == self.org_id, "bad_transfer",
                        f"ticket {self.ticket_id} stands at {self.org_id}, not {event.from_org_id}")
                require(event.to_org_id != self.org_id, "bad_transfer", f"ticket {self.ticket_id} is already at {self.org_id}")
            case TicketAccepted() | TicketResolved():
                require(event.unit is None or event.unit == self.lead, "not_lead_unit",
                        f"{event.unit} is not the lead unit of ticket {self.ticket_id} ({self.lead})")
            case TicketExtensionRequested():
                unit = self._clock(event.unit)
                require(unit not in self.requests, "extension_pending")
                current = self.deadline_of(unit)
                require(current is None or event.until > current, "bad_extension",
                        f"{event.until.isoformat()} is not later than the deadline now, {current and current.isoformat()}")
            case TicketExtensionApproved():
                unit = self.requested(event.request_id)
                current, asked = self.deadline_of(unit), self.requests[unit].until
                require((current is None or event.until > current) and event.until <= asked, "bad_extension",
                        f"{event.until.isoformat()} is not after the deadline now or later than the {asked.isoformat()} asked for")
            case TicketExtensionRefused():
                self.requested(event.request_id)
            case TicketPaused():
                require(self.paused_since is None, "already_paused")
            case TicketResumed():
                require(self.paused_since is not None, "not_paused")
            case TicketTaskAccepted():
                task = self._task(event.unit)
                require(not task.signed_for and not task.completed, "already_signed_for",
                        f"{event.unit} already signed for its task")
            case TicketTaskCompleted():
                require(not self._task(event.unit).completed, "task_completed")

    def _clock(self, unit: str | None) -> str | None:
        """The clock an event naming `unit` is about: the lead's (None or the lead) or a task's."""
        if unit is None or unit == self.lead:
            return LEAD
        self._task(unit)
        return unit

    def _task(self, unit: str) -> Task:
        task = self.tasks.get(unit)
        if task is None:
            raise Refused("not_supporting_unit", f"{unit} is not a supporting unit of the current dispatch of {self.ticket_id}")
        return task
