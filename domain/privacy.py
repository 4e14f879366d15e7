"""Erasure: one resident's personal data erased. The aggregate only remembers that it happened;
destroying the keys is the application's part (application/ledger.py), done before the event is
stored and re-done at every start from the events themselves."""

from __future__ import annotations

from domain.aggregate import CivicAggregate
from domain.refusal import require
from schemas.base import Event
from schemas.privacy import ErasureEvent, PersonalDataErased

ROLES = frozenset({"system"})
"""Erasure is an operator's act (`civic privacy erase`), recorded as the system."""


class Erasure(CivicAggregate):
    events = ErasureEvent
    creators = ROLES

    def when(self, fact: Event) -> None:
        if isinstance(fact, PersonalDataErased):
            self.resident_id = fact.resident_id

    def decide(self, event: Event) -> None:
        require(not event.creates, self.events.family.exists_code)
