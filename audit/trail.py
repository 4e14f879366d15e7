"""`civic audit trail`: the complete history of one ticket, dispute or topic, from the ledger.

Events of one ticket are spread over subjects civic.ledger.<type>.<org path> (the ticket id is
not in the subject), so the stream's subject filter cannot find them. The dashboard read model
keeps an index of them (its `trail` table: kind, entity id, ledger position); the trail takes the
positions from there (DashboardQueries.trail_index), reads the events after the read model's
position by scanning, and fetches each indexed message from the ledger by sequence. Without a
read model (an auditor with ledger access only) or with `scan`, it reads the whole ledger instead.

Each fetched message is checked against the hash its predecessor recorded: h(n) is recomputed
from h(n-1) and the bytes. That proves the event is the one chained at n; that h(n-1) itself is
right is what `civic audit verify` proves for the whole chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from nats.js import JetStreamContext

from audit.reader import last_position, read_ledger
from schemas import DecodeFailure, decode, lifecycle
from schemas import ledger as wire
from schemas import topology
from schemas.families import ENTITY_ID_FIELDS, ENVELOPE, FAMILIES
from schemas.base import stated
from schemas.topology import LEDGER

ID_FIELD = {name: m.family.id_field for name, m in FAMILIES.items() if m.family.id_field in ENTITY_ID_FIELDS}
"""ticket, dispute, topic -> the field naming the entity (the org tree has no trail of its own)."""
STAGES = {
    "dispute": {"DisputeRegistered": "registered", "MediationSessionHeld": "in_mediation", "DisputeConcluded": "concluded"},
    "topic": {"TopicProposed": "proposed", "MeetingHeld": "discussed", "TopicDecided": "decided", "TopicImplemented": "implemented"},
    "erasure": {"PersonalDataErased": "erased"},
    "gap": {"IntakeGap": "open", "IntakeGapAcknowledged": "acknowledged"},
}
"""The stage names the trail shows for disputes and topics; a ticket's come from the lifecycle table."""

_Ids = msgspec.defstruct("_Ids", [(f, str | None, None) for f in ENTITY_ID_FIELDS])
"""The entity ids a stored event may carry; msgspec skips every other field."""
_ids = msgspec.json.Decoder(_Ids).decode


@dataclass
class Step:
    position: int
    type: str
    occurred_at: datetime
    actor: str
    """role:pseudonym; never a name (personal data stays sealed)."""
    org_path: list[str]
    hours_since_previous: float | None
    stage: str | None
    """The stage the entity is in after this event."""
    hash: str
    """The Civic-Hash recorded with the message."""
    linked: bool
    """h(n) recomputed from the predecessor's recorded hash and these bytes equals `hash`."""
    detail: dict


@dataclass
class Trail:
    kind: str
    entity_id: str
    found_by: str
    steps: list[Step] = field(default_factory=list)
    hours_in_stage: dict[str, float] = field(default_factory=dict)
    """kpis.md#time-in-stage: per stage, the time from the event that entered it to the next event."""
    faults: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.steps) and not self.faults


async def scan(js: JetStreamContext, kind: str, entity_id: str, start: int = 1,
               progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Positions from `start` to the end whose event is about the entity (a full read)."""
    end, found, attr = await last_position(js), [], ID_FIELD[kind]
    async for m in read_ledger(js, start, end):
        try:
            if getattr(_ids(m.data), attr) == entity_id:
                found.append(m.position)
        except msgspec.DecodeError:
            pass  # not an event: `verify` reports it; it is no one's history
        if progress and m.position % 1000 == 0:
            progress(m.position, end)
    return found


async def trail(js: JetStreamContext, kind: str, entity_id: str, positions: list[int], found_by: str) -> Trail:
    """Fetch the messages at `positions`, check each one's link in the chain, and lay out the history."""
    result = Trail(kind, entity_id, found_by)
    recorded: dict[int, str] = {0: wire.GENESIS.hex()}
    previous_at, stage, attr = None, None, ID_FIELD[kind]
    for n in positions:
        msg = await js.get_msg(LEDGER, seq=n)
        headers = msg.headers or {}
        recorded[n] = headers.get(topology.HASH_HEADER, "")
        if n - 1 not in recorded:
            before = await js.get_msg(LEDGER, seq=n - 1)
            recorded[n - 1] = (before.headers or {}).get(topology.HASH_HEADER, "")
        data = msg.data or b""  # never None for a ledger event; empty would fail both checks below
        try:
            linked = wire.chain_hash(bytes.fromhex(recorded[n - 1]), n, data).hex() == recorded[n]
        except ValueError:
            linked = False
        try:
            event = decode(data, max_bytes=None)

        except DecodeFailure as e:
            result.faults.append(f"position {n} does not decode ({e.code})")
            continue
        if getattr(event, attr, None) != entity_id:
            result.faults.append(f"position {n} is not about {kind} {entity_id}: the read model's index is wrong; rebuild it")
            continue
        if not linked:
            result.faults.append(f"position {n}: its bytes do not give the hash recorded with it (run `civic audit verify`)")
        at = event.occurred_at
        if previous_at is not None and stage is not None:
            result.hours_in_stage[stage] = result.hours_in_stage.get(stage, 0.0) + (at - previous_at).total_seconds() / 3600
        if kind == "ticket":
            stage = lifecycle.move(event.type, event.__getattribute__).stage or stage
        else:
            stage = STAGES[kind].get(event.type, stage)
        builtins = stated(event)
        result.steps.append(Step(
            n, event.type, at, f"{event.actor.role}:{event.actor.id}", list(event.org_path),
            None if previous_at is None else round((at - previous_at).total_seconds() / 3600, 2), stage, recorded[n], linked,
            {k: v for k, v in builtins.items() if k not in ENVELOPE}))
        previous_at = at
    result.hours_in_stage = {k: round(v, 2) for k, v in result.hours_in_stage.items()}
    if not result.steps and not result.faults:
        result.faults.append(f"the ledger holds no event about {kind} {entity_id}")
    return result
