"""Deliberation (党群议事): a council or hamlet group proposes, meets, decides, implements."""

from __future__ import annotations

from domain.aggregate import CivicAggregate
from domain.refusal import require
from schemas import MeetingHeld, TopicDecided, TopicImplemented, TopicProposed
from schemas.base import Event
from schemas.deliberation import DeliberationEvent

ROLES = frozenset({"council", "unit"})
FROM_STAGES: dict[type, frozenset[str]] = {
    MeetingHeld: frozenset({"proposed", "discussed"}),
    TopicDecided: frozenset({"discussed"}),  # a decision needs at least one meeting
    TopicImplemented: frozenset({"decided"}),
}


class Deliberation(CivicAggregate):
    events = DeliberationEvent
    creators = ROLES

    def when(self, fact: Event) -> None:
        match fact:
            case TopicProposed():
                self.topic_id, self.stage = fact.topic_id, "proposed"
            case MeetingHeld():
                self.stage = "discussed"
            case TopicDecided():
                self.stage = "decided"
            case TopicImplemented():
                self.stage = "implemented"

    def decide(self, event: Event) -> None:
        require(event.actor.role in ROLES, "role_not_allowed", f"a {event.actor.role} may not record {event.type}")
        require(not event.creates, self.events.family.exists_code)
        require(self.stage in FROM_STAGES[type(event)], "topic_stage", f"{event.type} cannot follow stage {self.stage!r}")
