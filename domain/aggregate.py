"""What every civic aggregate shares: it records wire events ("facts").

An aggregate's history is the list of schemas events that were accepted for it, stored verbatim
(personal data sealed). `decide` checks a new fact against the rules and raises Refused; the
ledger then seals it and calls `record`. `when` evolves state and is all that replay runs.
Event ids are unique across the whole ledger, not per aggregate: the ledger keeps every
accepted id's `fingerprint` in an index beside the store (application/ledger.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

import msgspec
from eventsourcing.domain import Aggregate, AggregateCreated, AggregateEvent

from domain.refusal import Refused
from schemas import Event, encode
from schemas.base import as_sent

ID_NAMESPACE = uuid5(NAMESPACE_URL, "urn:civic-ledger")


@lru_cache(maxsize=65_536)  # uuid5 costs ~6 µs and a batch asks for the same org units again and again
def aggregate_id(family: str, entity_id: str) -> UUID:
    """A stable UUID for an upstream-minted id, e.g. ("ticket", "T-2026-0042")."""
    return uuid5(ID_NAMESPACE, f"{family}:{entity_id}")


def content_digest(event: Event) -> str:
    """The event's content as its producer sent it: minus what the ledger adds (sealed data, the
    org path, erased keys, filled-in deadlines) and the clear personal data. Fields a type gained
    later (`added`) count only when set (schemas.intake.encode), so events stored before them keep
    their digest."""
    written = {"erased_keys": ()} if "erased_keys" in event.__struct_fields__ else {}  # also the ledger's (PersonalDataErased)
    bare = msgspec.structs.replace(as_sent(event), personal=(), sealed=(), org_path=(), **written)
    return hashlib.sha256(encode(bare)).hexdigest()


def fingerprint(event: Event, macs: tuple[tuple[str, str], ...]) -> str:
    """What a resend under the same event_id must match to be a silent duplicate: the content
    and, per resident, the MAC of the personal data (so it is compared without storing it)."""
    digest = content_digest(event)
    if not macs:
        return digest
    return hashlib.sha256("|".join((digest, *(f"{r}={m}" for r, m in macs))).encode()).hexdigest()


def sealed_macs(fact: Event) -> tuple[tuple[str, str], ...]:
    """The (resident_id, mac) pairs of a stored fact's sealed personal data."""
    return tuple((s.resident_id, s.mac) for s in fact.sealed)


def conflicting(event: Event) -> Refused:
    return Refused("conflicting_duplicate", f"event_id {event.event_id} was applied with different content")


@dataclass(frozen=True)  # what the library's metaclass makes of it anyway; said here so a type checker sees `fact`
class Started(AggregateCreated):
    """The creating fact of an aggregate (TicketRaised, DisputeRegistered, ...)."""

    fact: Any

    def apply(self, aggregate: CivicAggregate) -> None:
        aggregate.when(self.fact)


@dataclass(frozen=True)
class Recorded(AggregateEvent):
    """Any later fact."""

    fact: Any

    def apply(self, aggregate: CivicAggregate) -> None:
        aggregate.when(self.fact)


class CivicAggregate(Aggregate):
    events: ClassVar[type[Event]]
    """The base class of the events it records (TicketEvent, ...), whose `family` declares the
    id field, the creating event and the reason codes; see schemas/families.py."""
    creators: ClassVar[frozenset[str]]
    """The actor roles that may record the creating event."""
    family: ClassVar[str]
    """Derived: events.family.name, the namespace of its aggregate ids ("ticket", ...)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "events" in cls.__dict__:
            cls.family = cls.events.family.name

    @classmethod
    def start(cls, entity_id: str, fact: Event) -> CivicAggregate:
        return cls._create(Started, id=aggregate_id(cls.family, entity_id), fact=fact, timestamp=fact.occurred_at)

    def record(self, fact: Event) -> None:
        self.trigger_event(Recorded, fact=fact, timestamp=fact.occurred_at)

    def when(self, fact: Event) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def decide(self, event: Event) -> None:  # pragma: no cover - every subclass defines it
        """Refuses (raises Refused) what this aggregate's history does not allow."""
        raise NotImplementedError
