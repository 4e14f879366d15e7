"""What every civic aggregate shares: it records wire events ("facts") and remembers their ids.

An aggregate's history is the list of schemas events that were accepted for it, stored verbatim
(personal data sealed). `decide` checks a new fact against the rules and raises Refused; the
ledger then seals it and calls `record`. `when` evolves state and is all that replay runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, AggregateCreated, AggregateEvent

from domain.refusal import Refused
from schemas import Event, encode

ID_NAMESPACE = uuid5(NAMESPACE_URL, "urn:civic-ledger")


@lru_cache(maxsize=65_536)  # uuid5 costs ~6 µs and a batch asks for the same org units again and again
def aggregate_id(family: str, entity_id: str) -> UUID:
    """A stable UUID for an upstream-minted id, e.g. ("ticket", "T-2026-0042")."""
    return uuid5(ID_NAMESPACE, f"{family}:{entity_id}")


def content_digest(event: Event) -> str:
    """The event's content, minus what the ledger adds and the clear personal data."""
    import msgspec

    written = {"erased_keys": ()} if "erased_keys" in event.__struct_fields__ else {}  # also the ledger's (PersonalDataErased)
    return hashlib.sha256(encode(msgspec.structs.replace(event, personal=(), sealed=(), org_path=(), **written))).hexdigest()


@dataclass(frozen=True)  # what the library's metaclass makes of it anyway; said here so a type checker sees `fact`
class Started(AggregateCreated):
    """The creating fact of an aggregate (TicketRaised, DisputeRegistered, ...)."""

    fact: Any

    def apply(self, aggregate: CivicAggregate) -> None:
        # Set here, not in __init__: the library's metaclass generates aggregates' __init__.
        aggregate.applied = {}
        aggregate.remember(self.fact)
        aggregate.when(self.fact)


@dataclass(frozen=True)
class Recorded(AggregateEvent):
    """Any later fact."""

    fact: Any

    def apply(self, aggregate: CivicAggregate) -> None:
        aggregate.remember(self.fact)
        aggregate.when(self.fact)


class CivicAggregate(Aggregate):
    events: ClassVar[type[Event]]
    """The base class of the events it records (TicketEvent, ...), whose `family` declares the
    id field, the creating event and the reason codes; see schemas/families.py."""
    creators: ClassVar[frozenset[str]]
    """The actor roles that may record the creating event."""
    family: ClassVar[str]
    """Derived: events.family.name, the namespace of its aggregate ids ("ticket", ...)."""
    if TYPE_CHECKING:  # declared for the checker only: an annotation at run time would make it a
        # field of the __init__ that the library's metaclass generates (it processes aggregates as dataclasses)
        applied: dict[str, tuple[str, tuple[tuple[str, str], ...]]]
        """Per instance, set by Started.apply: event_id -> (content digest, ((resident_id, mac), ...))
        of every fact applied."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "events" in cls.__dict__:
            cls.family = cls.events.family.name

    @classmethod
    def start(cls, entity_id: str, fact: Event) -> CivicAggregate:
        return cls._create(Started, id=aggregate_id(cls.family, entity_id), fact=fact, timestamp=fact.occurred_at)

    def record(self, fact: Event) -> None:
        self.trigger_event(Recorded, fact=fact, timestamp=fact.occurred_at)

    def remember(self, fact: Event) -> None:
        self.applied[fact.event_id] = (content_digest(fact), tuple((s.resident_id, s.mac) for s in fact.sealed))

    def seen(self, event: Event, macs: tuple[tuple[str, str], ...]) -> bool:
        """True if this very event was applied before; Refused if its id was used for other content."""
        known = self.applied.get(event.event_id)
        if known is None:
            return False
        if known != (content_digest(event), macs):
            raise Refused("conflicting_duplicate", f"event_id {event.event_id} was applied with different content")
        return True

    def when(self, fact: Event) -> None:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def decide(self, event: Event) -> None:  # pragma: no cover - every subclass defines it
        """Refuses (raises Refused) what this aggregate's history does not allow."""
        raise NotImplementedError
