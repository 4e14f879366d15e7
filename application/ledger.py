"""The ledger application: checks a batch of intake messages against the rules and stores the
accepted events with the batch's intake position, in one transaction.

Synchronous (the eventsourcing library is); the consumer runs it off the event loop. It gets
plain values (sequence, the subject's event type and org path tokens, bytes, delivery count):
the consumer parses the subject, so the rules here know no NATS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

import msgspec
from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import JSONTranscoder, Mapper, PersistenceError, ProcessRecorder, StoredEvent, Tracking
from eventsourcing.utils import get_topic

from adapters.compat import reset_aggregate_cache
from adapters.deadlines import shipped_rules
from adapters.eventstore import ledger_recorder
from adapters.keys import KeyStore
from application.timekeeping import fill_decision, fill_dispatch, fill_resumed
from domain.aggregate import CivicAggregate, Recorded, Started, aggregate_id, conflicting, fingerprint, sealed_macs
from domain.deliberation import Deliberation
from domain.dispute import Dispute
from domain.gap import Gap
from domain.org import ALLOWED_PARENTS, OrgUnit
from domain.personal import key_id, mac, seal
from domain.privacy import Erasure
from domain.refusal import Refused, require
from domain.ticket import Ticket
from schemas import DisputeRegistered, IntakeGap, OrgUnitMoved, OrgUnitRegistered, PersonalDataErased, TicketRaised, TicketVoided, topology
from schemas.base import Actor, Event, tag_of, written_by_ledger
from schemas.families import CREATING_TYPES, FAMILY_OF_TYPE
from schemas.intake import DecodeFailure, decode, encode
from schemas.pipeline import LEDGER_ORG, GapEvent
from schemas.policy import DeadlineRules
from schemas.ticket import TicketDispatched, TicketExtensionApproved, TicketExtensionRefused, TicketResumed
from schemas.topology import INTAKE  # also the tracking name: the position is the last intake sequence processed

MAX_DELIVERIES = 5
"""A message that has failed this many times (alone, or in batches NATS redelivered) is set aside
as `poison`."""
STORE_FAULTS: tuple[type[Exception], ...] = (PersistenceError, OSError)
"""The store or the disk failed, not a message: the batch is retried whole, never set aside."""

AGGREGATES: tuple[type[CivicAggregate], ...] = (OrgUnit, Ticket, Dispute, Deliberation, Erasure, Gap)
"""Each declares the family of events it records (`events`); the lookups below derive from that."""
_AGGREGATE_OF_FAMILY = {cls.family: cls for cls in AGGREGATES}
AGGREGATE_OF_TYPE: dict[str, type[CivicAggregate]] = {t: _AGGREGATE_OF_FAMILY[f.name] for t, f in FAMILY_OF_TYPE.items()}


@dataclass(frozen=True, slots=True)
class Incoming:
    """One intake message, its subject already parsed by the consumer."""

    sequence: int
    event_type: str
    """The subject's event type token ("" when the subject named none)."""
    org_path: tuple[str, ...]
    """The subject's org ids, from the root down."""
    data: bytes
    deliveries: int = 1

    @property
    def subject(self) -> str:
        """The intake subject these tokens spell, for refusal texts."""
        return topology.subject("intake", self.event_type, self.org_path)


@dataclass(frozen=True, slots=True)
class Rejection:
    message: Incoming
    code: str
    detail: str
    field: str | None = None
    event_id: str | None = None


@dataclass
class Outcome:
    accepted: int = 0
    duplicates: int = 0
    skipped: int = 0
    """Already processed before a restart (at or below the stored position)."""
    rejections: list[Rejection] = field(default_factory=list)
    position: int = 0


@dataclass
class Pending:
    """A checked batch, not yet stored."""

    outcome: Outcome
    processing: ProcessingEvent | None


def stored_fingerprint(stored: StoredEvent) -> tuple[str, str]:
    """(event_id, fingerprint) of an event in the store: how the index is built from history."""
    fact = decode(stored.state, max_bytes=None)
    return fact.event_id, fingerprint(fact, sealed_macs(fact))


class FactMapper(Mapper):
    """Stores an aggregate event as its fact's JSON, verbatim: the bytes the ledger stream carries
    and the hash chain covers. Aggregate id, version and topic are derived from the fact."""

    def __init__(self) -> None:
        super().__init__(transcoder=JSONTranscoder())

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=domain_event.fact.type,
            state=encode(domain_event.fact),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        fact = decode(stored_event.state, max_bytes=None)
        originator_id = stored_event.originator_id  # a UUID from every recorder of ours; as the library's
        if isinstance(originator_id, str):  # own mapper does, a recorder that returns text is converted
            originator_id = UUID(originator_id)
        version = stored_event.originator_version
        if fact.type in CREATING_TYPES:
            return Started(originator_id=originator_id, originator_version=version, timestamp=fact.occurred_at,
                           fact=fact, originator_topic=get_topic(AGGREGATE_OF_TYPE[fact.type]))
        return Recorded(originator_id=originator_id, originator_version=version, timestamp=fact.occurred_at, fact=fact)


A = TypeVar("A", bound=CivicAggregate)


class Batch:
    """The aggregates one batch touches, loaded once, and its new events in acceptance order."""

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self.aggregates: dict[UUID, CivicAggregate | None] = {}
        self.absent: frozenset[UUID] = frozenset()
        """Aggregates this batch names that the store did not hold when it was checked: no read."""
        self.events: list[Any] = []
        self.paths = ledger.org_paths
        """org_id -> path, the ledger's; cleared whenever an org event changes the tree."""
        self.known: dict[str, str] = {}
        """event_id -> fingerprint: the batch's ids found in the store's index, and those it accepts."""
        self.new_ids: list[tuple[str, str]] = []
        """(event_id, fingerprint) of the events accepted in this batch, for the index."""

    def get(self, cls: type[A], entity_id: str) -> A | None:
        key = aggregate_id(cls.family, entity_id)
        if key not in self.aggregates:
            self.aggregates[key] = self._load(cls, key)
        agg = self.aggregates[key]
        return agg if isinstance(agg, cls) else None

    def _load(self, cls: type[CivicAggregate], key: UUID) -> CivicAggregate | None:
        if key in self.absent:
            return None
        units = self.ledger.org_units
        if cls is OrgUnit and key in units:
            return units[key]
        try:
            agg: CivicAggregate = self.ledger.repository.get(key)
        except AggregateNotFoundError:
            return None
        if isinstance(agg, OrgUnit):
            units[key] = agg
        return agg

    def look_up(self, events: list[Event]) -> None:
        """Ask the store once which of the aggregates these events name it holds: a new ticket
        (most of a batch's new aggregates) then costs no read of its own."""
        named = {aggregate_id(AGGREGATE_OF_TYPE[e.type].family, getattr(e, e.family.id_field)) for e in events}
        named.difference_update(self.ledger.org_units)
        self.absent = frozenset(named - self.ledger.recorder.stored_aggregates(named))  # type: ignore[attr-defined]

    def org_path(self, org_id: str) -> tuple[str, ...] | None:
        if org_id not in self.paths:
            self.paths[org_id] = self._walk(org_id)
        return self.paths[org_id]

    def _walk(self, org_id: str) -> tuple[str, ...] | None:
        path: list[str] = []
        unit = self.get(OrgUnit, org_id)
        while unit is not None:
            path.append(unit.org_id)
            unit = self.get(OrgUnit, unit.parent_id) if unit.parent_id else None
        return tuple(reversed(path)) if path else None

    def add(self, aggregate: CivicAggregate) -> None:
        self.aggregates[aggregate.id] = aggregate
        self.events.extend(aggregate.collect_events())
        if isinstance(aggregate, OrgUnit):
            self.ledger.org_units[aggregate.id] = aggregate
            self.paths.clear()

    def seen(self, event: Event, macs: tuple[tuple[str, str], ...]) -> bool:
        """True if this very event was accepted before, for any aggregate; Refused
        (conflicting_duplicate) if its id was used for other content."""
        known = self.known.get(event.event_id)
        if known is None:
            return False
        if known != fingerprint(event, macs):
            raise conflicting(event)
        return True

    def accepted(self, stored: Event) -> None:
        fp = fingerprint(stored, sealed_macs(stored))
        self.known[stored.event_id] = fp
        self.new_ids.append((stored.event_id, fp))

    def touched(self) -> list[CivicAggregate]:
        return [a for a in self.aggregates.values() if a is not None]


class Ledger(Application):
    """The system of record. Its store holds accepted events; tracking holds the intake position."""

    name = "ledger"
    env = {
        # Bounded so memory stays flat: tickets are busy for days, then rest; a miss is one indexed read.
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        # The ledger is the store's only writer, so a cached aggregate is never stale.
        "AGGREGATE_CACHE_FASTFORWARD": "n",
        # Batches mutate cached aggregates in place; a failed batch drops the whole cache instead.
        "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    }

    recorder: ProcessRecorder
    """What construct_recorder() makes: an application recorder that also tracks positions."""

    def __init__(self, env: dict[str, str] | None = None, keys: KeyStore | None = None,
                 rules: DeadlineRules | None = None):
        super().__init__(env)
        if keys is None:
            raise ValueError("the ledger needs a key store for residents' personal data")
        self.keys = keys
        self.rules = rules or shipped_rules()
        """The deadline policy and calendar the deadlines a dispatch leaves out are computed from."""
        # The org tree stays in memory: every event's path is checked against it, and it is as
        # small as the district (thousands of units) while tickets number millions; in the
        # library's LRU cache the tickets would push it out and each path walk would read the store.
        self.org_units: dict[UUID, OrgUnit] = {}
        self.org_paths: dict[str, tuple[str, ...] | None] = {}
        """org_id -> path from the root, as stored (and as the batch being checked changes it)."""
        # A store from before the event-id index gets it now, from its history (once; resumable).
        self.indexed_on_upgrade = self.recorder.build_event_ids(stored_fingerprint)  # type: ignore[attr-defined]

    def construct_mapper(self) -> Mapper:
        return FactMapper()

    def construct_recorder(self) -> ProcessRecorder:
        return ledger_recorder(self.factory)

    def position(self) -> int:
        return self.recorder.max_tracking_id(INTAKE) or 0

    def process(self, messages: list[Incoming]) -> Outcome:
        """Apply a batch in intake order and store it with its last sequence, atomically."""
        return self.commit(self.check(messages))

    def check(self, messages: list[Incoming]) -> Pending:
        """First half of process(): apply the rules and seal, store nothing (but new keys).

        The consumer publishes the rejections between check() and commit(), so that a crash
        can never leave a stored position whose rejections were not published.
        """
        outcome = Outcome(position=self.position())
        todo = [m for m in messages if m.sequence > outcome.position]
        outcome.skipped = len(messages) - len(todo)
        if not todo:
            return Pending(outcome, None)
        batch = Batch(self)
        try:
            decoded = [self._decode(m) for m in todo]
            events = [e for e in decoded if isinstance(e, Event)]
            batch.known = self.recorder.fingerprints(e.event_id for e in events)  # type: ignore[attr-defined]
            batch.look_up(events)
            for message, event in zip(todo, decoded):
                self._process_one(message, event, batch, outcome)
        except BaseException:
            self.discard()
            raise
        processing: ProcessingEvent[UUID] = ProcessingEvent(tracking=Tracking(INTAKE, max(m.sequence for m in todo)))
        processing.events.extend(batch.events)  # not collect_events(): its runtime Protocol check costs ~20 µs an event
        processing.aggregates.update({a.id: a for a in batch.touched()})
        processing.saved_kwargs["event_ids"] = batch.new_ids  # into the index, in the same transaction
        return Pending(outcome, processing)

    def commit(self, pending: Pending) -> Outcome:
        """Second half: the accepted events and the new position, in one transaction."""
        if pending.processing is None:
            return pending.outcome
        erased = [fact.resident_id for e in pending.processing.events
                  if isinstance(fact := getattr(e, "fact", None), PersonalDataErased)]
        try:
            self.keys.flush()  # erased residents' keys go first: a crash after it redelivers the erasure
            self._record(pending.processing)
        except BaseException:
            self.discard()
            raise
        if erased:
            self.keys.forget_retired(erased)
        tracking = pending.processing.tracking
        assert tracking is not None  # check() makes every ProcessingEvent with one
        pending.outcome.position = tracking.notification_id
        return pending.outcome

    def reapply_erasures(self) -> int:
        """Destroy every key an erasure in the ledger names, if the key store holds it again (a
        restored backup): called at every start, before any batch. Returns how many were destroyed."""
        destroyed, start = 0, 1
        while notes := self.recorder.select_notifications(start=start, limit=1000, topics=[tag_of(PersonalDataErased)]):
            for note in notes:
                fact = decode(note.state, max_bytes=None)
                assert isinstance(fact, PersonalDataErased)  # the topic selects these only
                key = self.keys.get(fact.resident_id)
                if key is not None and key_id(key) in fact.erased_keys:
                    destroyed += self.keys.destroy(fact.resident_id)

            start = notes[-1].id + 1
        return destroyed

    def record_gap(self, first: int, last: int, noticed_at: datetime) -> int:
        """Intake dropped first..last before the ledger read them: record IntakeGap and move the
        position to `last`, in one transaction. Returns the position (unchanged if already past)."""
        if self.position() >= last:
            return self.position()
        gap_id = str(first)
        event = IntakeGap(event_id=f"intake-gap-{first}", occurred_at=noticed_at, source="ledger",
                          actor=Actor(role="system", id="ledger"), org_id=LEDGER_ORG, org_path=(LEDGER_ORG,),
                          gap_id=gap_id, first_sequence=first, last_sequence=last)
        batch = Batch(self)
        batch.add(Gap.start(gap_id, event))
        batch.accepted(event)
        processing: ProcessingEvent[UUID] = ProcessingEvent(tracking=Tracking(INTAKE, last))
        processing.events.extend(batch.events)
        processing.aggregates.update({a.id: a for a in batch.touched()})
        processing.saved_kwargs["event_ids"] = batch.new_ids
        try:
            self._record(processing)
        except BaseException:
            self.discard()
            raise
        return last

    def discard(self) -> None:
        """Forget a batch that will not be committed: cached aggregates may hold its changes."""
        self.keys.discard()
        self.org_units.clear()
        self.org_paths.clear()
        reset_aggregate_cache(self.repository)  # no public way to empty it: see adapters/compat.py

    @staticmethod
    def _decode(message: Incoming) -> Event | DecodeFailure:
        try:
            return decode(message.data)
        except DecodeFailure as e:
            return e

    def _process_one(self, message: Incoming, event: Event | DecodeFailure, batch: Batch, outcome: Outcome) -> None:
        if isinstance(event, DecodeFailure):
            outcome.rejections.append(Rejection(message, event.code, event.detail, event.field))
            return
        try:
            if self.apply(event, message, batch):
                outcome.accepted += 1
            else:
                outcome.duplicates += 1
        except Refused as e:
            outcome.rejections.append(Rejection(message, e.code, e.detail, None, event.event_id))
        except STORE_FAULTS:
            raise  # the store or the disk, not this message: retry the batch, never set it aside
        except Exception as e:
            if message.deliveries < MAX_DELIVERIES:
                raise
            detail = f"{type(e).__name__} after {message.deliveries} deliveries"
            outcome.rejections.append(Rejection(message, "poison", detail, None, event.event_id))

    # -- the rules that span aggregates ---------------------------------------------------------

    def apply(self, event: Event, message: Incoming, batch: Batch) -> bool:
        """Check one event and add it to the batch. False for a silent duplicate; Refused if not allowed."""
        require(not event.sealed and not event.org_path, "sealed_by_producer")
        if own := written_by_ledger(event):
            raise Refused("sealed_by_producer", f"only the ledger writes {', '.join(own)}")
        path = message.org_path
        require(message.event_type == event.type and path[-1:] == (event.org_id,), "subject_mismatch",
                f"subject {message.subject} does not name {event.type} at {event.org_id}")
        self._check_personal(event)
        macs = self._macs(event)
        cls, family = AGGREGATE_OF_TYPE[event.type], event.family
        entity_id = getattr(event, family.id_field)
        target = batch.get(cls, entity_id)

        if isinstance(event, GapEvent):  # the pipeline's own events, outside the org tree
            require(path == (LEDGER_ORG,), "subject_mismatch", f"pipeline events happen at {LEDGER_ORG}")
            if batch.seen(event, macs):
                return False
            require(not event.creates, "role_not_allowed", "only the ledger itself records an intake gap")
            if target is None:
                raise Refused(family.unknown_code, f"no intake gap {entity_id}")
            target.decide(event)
        elif isinstance(event, OrgUnitRegistered):
            if batch.seen(event, macs):
                return False
            self._check_registration(event, path, batch)
        else:
            current = batch.org_path(event.org_id)
            if current is None:
                raise Refused("unknown_org", f"org unit {event.org_id} is not registered")
            # A resend keeps the subject it was first sent with: a duplicate even after a move.
            if batch.seen(event, macs):
                return False
            require(path == current, "subject_mismatch", f"{event.org_id} is at {'.'.join(current)}, not {'.'.join(path)}")
            if event.creates:
                require(event.actor.role in cls.creators, "role_not_allowed",
                        f"a {event.actor.role} may not record {event.type}")
                require(target is None, family.exists_code, f"{event.type} for an existing {cls.family} {entity_id}")
            else:
                if target is None:
                    raise Refused(family.unknown_code, f"no {cls.family} {entity_id}")
                self._decide(target, event, batch)
                if isinstance(target, Ticket):
                    event = self._fill(event, target, batch)

        if isinstance(event, PersonalDataErased):
            event = self._erase(event)
        stored = msgspec.structs.replace(
            event, personal=(), org_path=path,
            sealed=seal(event.event_id, event.personal, self.keys.get_or_create(p.resident_id for p in event.personal)),
        )
        if target is None:
            target = cls.start(entity_id, stored)
        else:
            target.record(stored)
        batch.add(target)
        batch.accepted(stored)
        return True

    def _fill(self, event: Event, ticket: Ticket, batch: Batch) -> Event:
        """The deadlines the ledger writes (application/timekeeping.py), once the event is allowed."""
        if isinstance(event, TicketDispatched):
            lead = batch.get(OrgUnit, event.to_unit) if event.to_unit else None
            level = lead or batch.get(OrgUnit, ticket.org_id)  # a worker-only dispatch: the ticket's unit
            return fill_dispatch(event, ticket, level.kind if level else None, self.rules)
        if isinstance(event, TicketResumed):
            return fill_resumed(event, ticket, self.rules)
        if isinstance(event, TicketExtensionApproved | TicketExtensionRefused):
            return fill_decision(event, ticket)
        return event

    def _erase(self, event: PersonalDataErased) -> PersonalDataErased:
        """Name the keys this erasure destroys (the current one, and any retired by an earlier try
        that crashed before its event was stored) and retire them at this batch's flush."""
        require(not event.erased_keys, "sealed_by_producer", "only the ledger writes erased_keys")
        current = self.keys.get(event.resident_id)
        named = sorted({*self.keys.retired(event.resident_id), *([key_id(current)] if current else [])})
        self.keys.retire(event.resident_id, tuple(named))
        return msgspec.structs.replace(event, erased_keys=tuple(named))

    def _check_registration(self, event: OrgUnitRegistered, path: tuple[str, ...], batch: Batch) -> None:
        require(event.actor.role in OrgUnit.creators, "role_not_allowed", f"a {event.actor.role} may not register org units")
        require(batch.get(OrgUnit, event.org_id) is None, event.family.exists_code, f"org unit {event.org_id} is already registered")
        if event.parent_id is None:
            require(None in ALLOWED_PARENTS[event.kind], "bad_parent", f"a {event.kind} needs a parent")
            require(path == (event.org_id,), "subject_mismatch", "a root unit's subject path is its own id")
            return
        parent = batch.get(OrgUnit, event.parent_id)
        require(parent is not None and parent.may_hold(event.kind), "bad_parent",
                f"{event.parent_id} is unknown or may not hold a {event.kind}")
        parent_path = batch.org_path(event.parent_id)
        assert parent_path is not None  # the parent is registered, so it has a path
        require(path == (*parent_path, event.org_id), "subject_mismatch",
                f"the subject path must be the parent's path followed by {event.org_id}")

    def _decide(self, target: CivicAggregate, event: Event, batch: Batch) -> None:
        if isinstance(target, OrgUnit):
            if isinstance(event, OrgUnitMoved):
                parent = batch.get(OrgUnit, event.new_parent_id)
                target.decide(event, parent, batch.org_path(event.new_parent_id) or ())
            else:
                target.decide(event)
            return
        target.decide(event)
        for ref in event.org_refs:  # e.g. the unit a dispatch names
            unit = getattr(event, ref)
            require(not unit or batch.get(OrgUnit, unit) is not None, "unknown_org", f"{ref} names unknown unit {unit}")
        if isinstance(event, TicketDispatched):
            for task in event.supporting:
                require(batch.get(OrgUnit, task.unit) is not None, "unknown_org", f"supporting names unknown unit {task.unit}")
        if isinstance(event, TicketVoided):
            original = batch.get(Ticket, event.duplicate_of)
            require(original is not None and original.stage != "voided", "bad_duplicate",
                    f"{event.duplicate_of} is not a ticket a duplicate can be merged into")

    @staticmethod
    def _check_personal(event: Event) -> None:
        """Personal data may come only where a resident is named: the reporter, a dispute's parties."""
        if not event.personal:
            return
        ids = [p.resident_id for p in event.personal]
        require(len(ids) == len(set(ids)), "personal_data_mismatch", "one personal-data entry per resident")
        if isinstance(event, TicketRaised):
            require(len(ids) == 1, "personal_data_mismatch", "a ticket has one reporter")
        elif isinstance(event, DisputeRegistered):
            parties = {p.resident_id for p in event.parties}
            require(set(ids) <= parties, "personal_data_mismatch", "personal data for someone who is not a party")
        else:
            require(False, "personal_data_mismatch", f"{event.type} carries no personal data")

    def _macs(self, event: Event) -> tuple[tuple[str, str], ...]:
        out = []
        for p in event.personal:
            key = self.keys.get(p.resident_id)
            out.append((p.resident_id, mac(key, p) if key else "erased"))
        return tuple(out)

