"""Ticket: a micro-list item through the four orders 点单 → 派单 → 接单 → 评单.

Stages: raised → dispatched → accepted → resolved → rated → closed. A return goes back to
dispatch; a dissatisfied rating or a reopen starts a new resolution round from dispatch.
Voided (merged into a duplicate) and closed are final.
"""

from __future__ import annotations

from domain.aggregate import CivicAggregate
from domain.refusal import require
from schemas import (
    TicketAccepted, TicketClosed, TicketDispatched, TicketProgressNoted, TicketRaised, TicketRated,
    TicketRecategorised, TicketReopened, TicketResolved, TicketReturned, TicketVoided,
)
from schemas.base import Event

RECEIVERS = frozenset({"receiver", "grid_worker", "unit"})
DISPATCHERS = frozenset({"dispatcher", "system"})
ROLES: dict[type, frozenset[str]] = {
    TicketRaised: frozenset({"resident", "enterprise", "grid_worker", "dispatcher", "unit", "system"}),
    TicketDispatched: DISPATCHERS,
    TicketAccepted: RECEIVERS,
    TicketReturned: RECEIVERS,
    TicketProgressNoted: RECEIVERS,
    TicketResolved: RECEIVERS,
    TicketRated: frozenset({"resident", "enterprise", "dispatcher"}),  # 12345 call-backs rate for the resident
    TicketReopened: frozenset({"resident", "enterprise", "dispatcher", "system"}),
    TicketClosed: DISPATCHERS,
    TicketVoided: DISPATCHERS,
    TicketRecategorised: DISPATCHERS,
}

# The stages from which each event may happen.
FROM_STAGES: dict[type, frozenset[str]] = {
    TicketDispatched: frozenset({"raised", "returned", "reopened", "dispatched"}),  # re-dispatch before acceptance
    TicketAccepted: frozenset({"dispatched"}),
    TicketReturned: frozenset({"dispatched", "accepted"}),
    TicketProgressNoted: frozenset({"accepted"}),
    TicketResolved: frozenset({"accepted"}),
    TicketRated: frozenset({"resolved", "rated"}),  # from "rated": refused below as already_rated
    TicketReopened: frozenset({"resolved", "rated"}),
    TicketClosed: frozenset({"resolved", "rated"}),
    TicketVoided: frozenset({"raised", "dispatched", "accepted", "returned", "reopened", "resolved", "rated"}),
    TicketRecategorised: frozenset({"raised", "dispatched", "accepted", "returned", "reopened", "resolved", "rated"}),
}
FINAL = frozenset({"closed", "voided"})


class Ticket(CivicAggregate):
    family = "ticket"

    def when(self, fact: Event) -> None:
        match fact:
            case TicketRaised():
                self.ticket_id, self.org_id, self.category = fact.ticket_id, fact.org_id, fact.category
                self.stage, self.round, self.rated_rounds = "raised", 1, set()
            case TicketDispatched():
                self.stage = "dispatched"
            case TicketAccepted():
                self.stage = "accepted"
            case TicketReturned():
                self.stage = "returned"
            case TicketResolved():
                self.stage = "resolved"
            case TicketRated():
                self.rated_rounds.add(self.round)
                if fact.satisfaction == "dissatisfied":
                    self.reopen()
                else:
                    self.stage = "rated"
            case TicketReopened():
                self.reopen()
            case TicketClosed():
                self.stage = "closed"
            case TicketVoided():
                self.stage = "voided"
            case TicketRecategorised():
                self.category = fact.category

    def reopen(self) -> None:
        self.stage, self.round = "reopened", self.round + 1

    def decide(self, event: Event) -> None:
        """Refuses what this ticket's history does not allow. Cross-aggregate checks (the unit a
        dispatch names, the ticket a void points to) are made by the ledger."""
        require(event.actor.role in ROLES[type(event)], "role_not_allowed",
                f"a {event.actor.role} may not record {event.type}")
        if isinstance(event, TicketRaised):
            require(False, "ticket_exists", f"ticket {event.ticket_id} was already raised")
        require(self.stage not in FINAL, "ticket_finished", f"ticket {self.ticket_id} is {self.stage}")
        require(self.stage in FROM_STAGES[type(event)], "wrong_stage",
                f"{event.type} cannot follow stage {self.stage!r}")
        match event:
            case TicketDispatched():
                require(event.to_unit or event.to_worker, "no_assignee")
                require(event.deadline > event.occurred_at, "bad_deadline")
            case TicketRated():
                require(self.round not in self.rated_rounds, "already_rated")
            case TicketVoided():
                require(event.duplicate_of != self.ticket_id, "bad_duplicate", "a ticket cannot duplicate itself")
