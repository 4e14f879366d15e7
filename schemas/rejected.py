"""The CIVIC_REJECTED stream: the original bytes of a refused message, and why.

Subject: civic.rejected.<reason code>.<the intake subject after civic.intake.>.
Body: the bytes exactly as the producer sent them. Headers carry the reason. `Nats-Msg-Id` is
`intake-<intake stream sequence>`, so a rejection republished after a crash is stored once.
The header names are in schemas/topology.py; the reason codes are here, each family's two from
its declaration (Family) and an event type's own from its class (`refusals`, e.g. TicketDispatched).
"""

from __future__ import annotations

from schemas.base import Event, Family, Reason
from schemas.clock import CLOCK_EVENTS
from schemas.deliberation import DELIBERATION_EVENTS, DeliberationEvent
from schemas.dispute import DISPUTE_EVENTS, DisputeEvent
from schemas.organisation import ORGANISATION_EVENTS, OrgEvent
from schemas.pipeline import GapEvent
from schemas.privacy import PRIVACY_EVENTS, ErasureEvent
from schemas.ticket import TICKET_EVENTS, TicketEvent

__all__ = ["REASONS", "Reason", "reason"]


def _reasons(*rows: tuple[str, str, bool]) -> dict[str, Reason]:
    out = {code: Reason(code, sentence, resend) for code, sentence, resend in rows}
    if len(out) != len(rows):
        raise ValueError("a reason code is listed or declared twice")
    return out


def _family(family: Family) -> tuple[tuple[str, str, bool], ...]:
    """A family's two refusals, from its declaration: unknown_<name> (resending the same event
    cannot help: the entity must be created first) and <name>_exists (a new id could)."""
    return (family.unknown_code, family.unknown, False), (family.exists_code, family.exists, True)


def _declared(types: tuple[type[Event], ...]) -> tuple[tuple[str, str, bool], ...]:
    """The reasons these event types declare for their own rules (`refusals`), in type order."""
    own = dict.fromkeys(r for cls in types for r in cls.refusals)  # a reason a base class declares is listed once
    return tuple((r.code, r.sentence, r.resend_may_help) for r in own)


REASONS = _reasons(
    # Decoding: the bytes are not a valid event.
    ("oversize", "The message is larger than the 64 KiB an event may be.", True),
    ("invalid_utf8", "The message is not valid UTF-8.", True),
    ("malformed_json", "The message is not well-formed JSON.", True),
    ("unknown_type", "The `type` field names no event type of this contract.", True),
    ("invalid_field", "A field is missing, mistyped or out of range.", True),
    ("unsupported_version", "The schema_version is newer than this ledger understands.", False),
    ("sealed_by_producer", "Only the ledger may write `sealed` and `org_path`.", True),
    ("subject_mismatch", "The subject does not name the event's type and org path.", True),
    # Rules: a valid event that the history does not allow.
    ("conflicting_duplicate", "This event_id was already applied with different content.", True),
    *_family(OrgEvent.family),
    ("bad_parent", "The parent org unit is unknown or may not hold a unit of this kind.", True),
    ("move_cycle", "A unit cannot move under itself or its own subtree.", True),
    ("not_a_grid", "Grid workers are assigned to grids only.", True),
    *_declared(ORGANISATION_EVENTS),
    ("role_not_allowed", "The actor's role may not record this event.", True),
    *_family(TicketEvent.family),
    ("ticket_finished", "The ticket is closed or voided; nothing more can happen to it.", False),
    ("wrong_stage", "The ticket is not at a stage where this can happen.", False),
    ("already_rated", "This resolution round already has a rating.", False),  # the round, as the lifecycle counts it
    *_declared(TICKET_EVENTS),
    # Lead and supporting units (主办/协办), given by several ticket types' rules.
    ("bad_supporting", "Supporting units are registered units other than the lead, each named once.", True),
    ("not_lead_unit", "Only the lead unit signs for and resolves the ticket; supporting units have tasks.", True),
    *_declared(CLOCK_EVENTS),
    *_family(DisputeEvent.family),
    ("dispute_concluded", "The dispute is concluded; nothing more can happen to it.", False),
    ("no_mediation", "A dispute is concluded only after at least one mediation session.", False),
    *_declared(DISPUTE_EVENTS),
    *_family(DeliberationEvent.family),
    ("topic_stage", "The topic is not at a stage where this can happen.", False),
    *_declared(DELIBERATION_EVENTS),
    ("personal_data_mismatch", "Personal data must name the residents this event concerns.", True),
    *_family(ErasureEvent.family),
    *_declared(PRIVACY_EVENTS),
    *_family(GapEvent.family),
    # The pipeline.
    ("poison", "Processing failed repeatedly; the message was set aside.", False),
)


def reason(code: str) -> Reason:
    return REASONS[code]
