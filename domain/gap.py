"""An intake gap: recorded by the ledger, acknowledged by an operator (schemas/pipeline.py)."""

from __future__ import annotations

from schemas import Event, IntakeGap, IntakeGapAcknowledged
from schemas.pipeline import GapEvent

from domain.aggregate import CivicAggregate


class Gap(CivicAggregate):
    events = GapEvent
    creators = frozenset({"system"})

    def decide(self, event: Event) -> None:
        """Every acknowledgement is recorded, a later one too: each says who looked and why."""

    def when(self, fact: Event) -> None:
        match fact:
            case IntakeGap():
                self.first_sequence, self.last_sequence, self.acknowledged = fact.first_sequence, fact.last_sequence, False
            case IntakeGapAcknowledged():
                self.acknowledged = True
