"""Events about the pipeline itself, not an org unit's work: an intake gap and its acknowledgement.

The ledger records `IntakeGap` when CIVIC_INTAKE dropped messages it never read (they aged out:
CIVIC_INTAKE_MAX_AGE_DAYS), so auditors see the hole in the ledger itself. An operator answers
with `IntakeGapAcknowledged` (`civic ops ack-gap`), published through intake like any event;
until then health says `faulty`. Both happen at the reserved org id LEDGER_ORG, outside the org
tree (subject civic.intake.IntakeGapAcknowledged.ledger).
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from schemas.base import EntityId, Event, Family, ShortText

LEDGER_ORG = "ledger"
"""The org id, and whole org path, of pipeline events; not a unit of the org tree."""


class GapEvent(Event, frozen=True):
    """An event about one intake gap; `gap_id` is its first missing intake sequence, as text."""

    family = Family("gap", "gap_id", unknown="No intake gap with this id was recorded.",
                    exists="This intake gap is already recorded.")


class IntakeGap(GapEvent, tag=True, frozen=True):
    """Intake sequences first_sequence..last_sequence were dropped before the ledger read them.
    Recorded by the ledger only; `occurred_at` is when it noticed."""

    creates = True

    gap_id: EntityId
    first_sequence: Annotated[int, Meta(ge=1)]
    last_sequence: Annotated[int, Meta(ge=1)]


class IntakeGapAcknowledged(GapEvent, tag=True, frozen=True):
    """An operator has seen the gap and says why it may stand (e.g. what was re-sent)."""

    gap_id: EntityId
    reason: ShortText


PIPELINE_EVENTS = (IntakeGap, IntakeGapAcknowledged)
