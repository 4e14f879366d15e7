"""Dispute (矛盾纠纷): registered with a risk grade, mediated in sessions, settled or failed."""

from __future__ import annotations

from domain.aggregate import CivicAggregate
from domain.refusal import require
from schemas import DisputeConcluded, DisputeRegistered, MediationSessionHeld
from schemas.base import Event
from schemas.dispute import DisputeEvent

ROLES: dict[type, frozenset[str]] = {
    DisputeRegistered: frozenset({"mediator", "grid_worker", "dispatcher", "unit", "system"}),
    MediationSessionHeld: frozenset({"mediator"}),
    DisputeConcluded: frozenset({"mediator"}),
}


class Dispute(CivicAggregate):
    events = DisputeEvent
    creators = ROLES[DisputeRegistered]

    def when(self, fact: Event) -> None:
        match fact:
            case DisputeRegistered():
                self.dispute_id, self.sessions, self.outcome = fact.dispute_id, 0, None
            case MediationSessionHeld():
                self.sessions += 1
            case DisputeConcluded():
                self.outcome = fact.outcome

    def decide(self, event: Event) -> None:
        require(event.actor.role in ROLES[type(event)], "role_not_allowed",
                f"a {event.actor.role} may not record {event.type}")
        require(not event.creates, self.events.family.exists_code)
        require(self.outcome is None, "dispute_concluded")
        if isinstance(event, DisputeConcluded):
            require(self.sessions > 0, "no_mediation")
