"""Ticket: a micro-list item through the four orders 点单 → 派单 → 接单 → 评单.

Which event may follow which stage, who may record it and what it does to the stage and the
round is the lifecycle table (schemas/lifecycle.py); this aggregate applies it and adds the
rules that need the ticket's own history or facts: one rating per round, a dispatch's
assignee and deadline, a void that does not point at itself, a transfer from the unit the
ticket stands at to another, a clock event only about a deadline the ticket has and did not meet
(schemas/clock.py keeps the deadlines: the same fold the clock runs).
"""

from __future__ import annotations

from domain.aggregate import CivicAggregate
from domain.refusal import require
from schemas import TicketDispatched, TicketRaised, TicketRated, TicketRecategorised, TicketVoided
from schemas import lifecycle
from schemas.base import Event
from schemas.clock import DeadlineBook, DeadlineEvent, check as deadline_check
from schemas.ticket import TicketEvent, TicketTransferred


class Ticket(CivicAggregate):
    events = TicketEvent
    creators = lifecycle.RULES[TicketRaised].roles

    def when(self, fact: Event) -> None:
        match fact:
            case TicketRaised():
                self.ticket_id, self.org_id, self.category = fact.ticket_id, fact.org_id, fact.category
                self.round, self.rated_rounds = lifecycle.FIRST_ROUND, set()
                self.deadlines = DeadlineBook()
            case TicketRated():
                self.rated_rounds.add(self.round)  # the round it rates, before a dissatisfied rating starts the next
            case TicketRecategorised():
                self.category = fact.category
            case TicketTransferred():
                self.org_id = fact.to_org_id
        self.deadlines.apply(fact)
        stage, new_round = lifecycle.move(fact.type, fact.__getattribute__)
        if stage is not None:
            self.stage = stage
        if new_round:
            self.round += 1

    def decide(self, event: Event) -> None:
        """Refuses what this ticket's history does not allow. Cross-aggregate checks (the unit a
        dispatch names, the ticket a void points to) are made by the ledger."""
        rule = lifecycle.RULES[type(event)]
        require(event.actor.role in rule.roles, "role_not_allowed", f"a {event.actor.role} may not record {event.type}")
        require(not event.creates, self.events.family.exists_code, f"ticket {self.ticket_id} was already raised")
        require(self.stage not in lifecycle.FINAL, "ticket_finished", f"ticket {self.ticket_id} is {self.stage}")
        require(self.stage in rule.after, "wrong_stage", f"{event.type} cannot follow stage {self.stage!r}")
        match event:
            case TicketDispatched():
                require(event.to_unit or event.to_worker, "no_assignee")
                require(event.deadline is None or event.deadline > event.occurred_at, "bad_deadline")
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
