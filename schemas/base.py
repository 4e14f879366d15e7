"""The envelope every event carries, and the small types events share.

Every event is a frozen, kw-only msgspec Struct tagged by its `type` field. Schema evolution
follows docs/schema-evolution.md: add optional fields with defaults, never retype or rename;
unknown fields are ignored so old consumers keep working; an incompatible change bumps the
type's `schema_version` and ships an upcaster (schemas/evolution.py).
"""

from __future__ import annotations

from datetime import datetime
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import Meta

# Ids that travel in NATS subjects must be single subject tokens: no dots, spaces or wildcards.
OrgId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="An org unit id; one NATS subject token.")]
EntityId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,64}$", description="A ticket, dispute or topic id minted upstream.")]
EventId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:-]{1,128}$", description="Unique per event; becomes Nats-Msg-Id.")]
PseudonymousId = Annotated[str, Meta(min_length=1, max_length=64, description="A stable pseudonym, never a name or phone number.")]
Text = Annotated[str, Meta(max_length=4000)]
ShortText = Annotated[str, Meta(min_length=1, max_length=200)]
Category = Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,48}$", description="A ticket or dispute category code, e.g. parking.")]
AwareDatetime = Annotated[datetime, Meta(tz=True, description="RFC 3339 with an offset.")]
Latitude = Annotated[float, Meta(ge=-90, le=90, description="WGS84 latitude, decimal degrees.")]
Longitude = Annotated[float, Meta(ge=-180, le=180, description="WGS84 longitude, decimal degrees.")]

ActorRole = Literal[
    "resident", "enterprise", "dispatcher", "receiver", "grid_worker", "unit",
    "mediator", "council", "auditor", "system",
]


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Who did it: a role and a pseudonymous id (never a name)."""

    role: ActorRole
    id: PseudonymousId


class PersonalData(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A resident's personal data: the only place it may appear in an event.

    The ledger seals it with the resident's own key before storing; no read model, log line,
    dashboard or export ever sees it in clear.
    """

    resident_id: PseudonymousId
    name: Annotated[str, Meta(max_length=100)] | None = None
    phone: Annotated[str, Meta(max_length=40)] | None = None
    address: Annotated[str, Meta(max_length=300)] | None = None
    """Where the resident is (an Open311 address_string, often their home)."""
    email: Annotated[str, Meta(max_length=200)] | None = None


class SealedPersonalData(msgspec.Struct, frozen=True, kw_only=True):
    """PersonalData encrypted by the ledger with the resident's key (AES-256-GCM).

    `mac` is HMAC-SHA256 under the same key over the canonical clear bytes, so a resent
    duplicate can be compared without storing the clear data. Destroying the key makes both
    meaningless while the stored bytes, and so every hash, stay as they were.
    """

    resident_id: PseudonymousId
    key_id: str
    """Fingerprint of the key that sealed it: tells data sealed under a destroyed key from tampering."""
    nonce: str
    ciphertext: str
    mac: str


class Reason(msgspec.Struct, frozen=True):
    """A refusal: its stable code, a sentence, and whether a corrected resend could be accepted.
    schemas/rejected.py lists them all (REASONS); an event type declares its own in `refusals`."""

    code: str
    sentence: str
    resend_may_help: bool
    """Whether a corrected event (with a new event_id) could be accepted."""


class Family(msgspec.Struct, frozen=True):
    """What the events of one aggregate share, declared once on their base class (TicketEvent.family).

    schemas/families.py derives every lookup from these declarations (type -> family, creating
    types, id fields); schemas/rejected.py derives the family's two reason codes from them.
    """

    name: str
    """'ticket': the aggregate ids' namespace (uuid5 of 'ticket:<id>') and the trail's kind."""
    id_field: str
    """The field naming the entity, e.g. ticket_id; org_id for the org tree."""
    unknown: str
    """The sentence of the refusal unknown_<name>: an event about an entity never created."""
    exists: str
    """The sentence of the refusal <name>_exists: a second creating event for the same id."""

    @property
    def unknown_code(self) -> str:
        return f"unknown_{self.name}"

    @property
    def exists_code(self) -> str:
        return f"{self.name}_exists"


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    """The envelope. Subclasses add the facts of one event type.

    Encoded with every field, defaults included: an absent `schema_version` means 1, so the
    current version must always be written out. Every subclass says `frozen=True` again: msgspec
    inherits it, but a type checker (PEP 681's dataclass_transform) reads each class on its own.
    """

    event_id: EventId
    occurred_at: AwareDatetime
    source: Annotated[str, Meta(pattern=r"^[a-z0-9_-]{1,40}$", description="The upstream system, e.g. hotline-12345.")]
    actor: Actor
    org_id: OrgId
    schema_version: int = 1
    personal: tuple[PersonalData, ...] = ()
    """Clear personal data, as producers send it. Empty once stored in the ledger."""
    sealed: tuple[SealedPersonalData, ...] = ()
    """Written by the ledger only: `personal`, sealed per resident."""
    org_path: tuple[OrgId, ...] = ()
    """Written by the ledger only: the org ids from root to `org_id` when the event was accepted."""

    family: ClassVar[Family]
    """Declared by each family's base class (OrgEvent, TicketEvent, ...); not a field."""
    creates: ClassVar[bool] = False
    """True on the one event type that creates its family's aggregate (TicketRaised, ...)."""
    parent_field: ClassVar[str | None] = None
    """On org events that place a unit in the tree: the field naming its (new) parent."""
    org_refs: ClassVar[tuple[str, ...]] = ()
    """Fields naming another org unit that must be registered when set (else unknown_org)."""
    added: ClassVar[tuple[str, ...]] = ()
    """Fields added compatibly after events of this type were first stored: left out of the
    event's fingerprint while at their default, so a stored event keeps the fingerprint it was
    indexed under (domain/aggregate.py content_digest)."""
    ledger_writes: ClassVar[tuple[str, ...]] = ()
    """Fields only the ledger writes (besides `sealed` and `org_path`): a producer setting one is
    refused as sealed_by_producer."""
    refusals: ClassVar[tuple[Reason, ...]] = ()
    """The reasons only this type's own rules give (TicketDispatched: bad_deadline, no_assignee);
    schemas/rejected.py lists them after its family's. The family's and the lifecycle's are not repeated."""

    @property
    def type(self) -> str:
        return tag_of(type(self))


@cache  # asked for on every event (its `type`): msgspec builds __struct_config__ anew on each access
def tag_of(cls: type[msgspec.Struct]) -> str:
    """The `type` tag of an event class: msgspec derives it from the class name (tag=True)."""
    tag = cls.__struct_config__.tag
    if not isinstance(tag, str):  # None for an untagged class, an int only if one were declared
        raise TypeError(f"{cls.__name__} is not a tagged event type")
    return tag


@cache
def defaults_of(cls: type[msgspec.Struct]) -> Mapping[str, Any]:
    """Field name -> its default, per event class, worked out once: msgspec.structs.fields
    evaluates the class's annotations on every call (about 1.5 ms for a dispatch), and encoding an
    event with `added` fields asks for them each time (the read model's trail, the ledger)."""
    return MappingProxyType({f.name: f.default for f in msgspec.structs.fields(cls)})


def stated(event: Event) -> dict[str, Any]:
    """The event as builtins, the fields its type gained later (`added`) left out while at their
    default: what a reader shows and what a fingerprint covers, so the answers and fingerprints
    of events stored before those fields existed do not change. (JSON-encoded, it is byte for byte
    the event's encoding when no added field is set.)"""
    builtins: dict[str, Any] = msgspec.to_builtins(event)
    if not event.added:
        return builtins
    defaults = defaults_of(type(event))
    return {k: v for k, v in builtins.items() if k not in event.added or getattr(event, k) != defaults[k]}


def written_by_ledger(event: Event) -> list[str]:
    """The fields of `event` only the ledger writes that are set: none, in what a producer sends."""
    if not event.ledger_writes:
        return []
    defaults = defaults_of(type(event))
    return [f for f in event.ledger_writes if getattr(event, f) != defaults[f]]


def as_sent(event: Event) -> Event:
    """The event without the values the ledger filled in (named in its `filled` field, if it has
    one: "deadline", or "supporting.0.deadline" for a field of the first element of a tuple).
    What a producer's resend is compared with."""
    filled: tuple[str, ...] = getattr(event, "filled", ())
    if not filled:
        return event
    defaults = defaults_of(type(event))
    changes: dict[str, object] = {"filled": ()}
    for name in filled:
        field, _, rest = name.partition(".")
        if not rest:
            changes[field] = defaults[field]
            continue
        index, _, sub = rest.partition(".")
        items = list(changes.get(field, getattr(event, field)))  # type: ignore[call-overload]
        items[int(index)] = msgspec.structs.replace(items[int(index)], **{sub: None})
        changes[field] = tuple(items)
    return msgspec.structs.replace(event, **changes)
