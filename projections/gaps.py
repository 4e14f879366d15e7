"""Intake gaps not yet acknowledged, from the dashboard read model's trail (schemas/pipeline.py).

The trail keeps every event by (kind, entity, position), so this is a range read of the few
`gap` rows: it costs nothing on a ledger without gaps, whatever its size.
"""

from __future__ import annotations

import msgspec

from projections.store import Database
from schemas import IntakeGap, IntakeGapAcknowledged
from schemas.pipeline import GapEvent

KIND = GapEvent.family.name


class OpenGap(msgspec.Struct, frozen=True):
    gap_id: str
    position: int
    """The IntakeGap event's ledger position."""
    first_sequence: int
    last_sequence: int
    """The intake sequences dropped before the ledger read them, first to last."""
    acknowledge: str
    """The command that acknowledges it."""


_Detail = msgspec.json.Decoder(IntakeGap)
_GAP, _ACK = IntakeGap.__struct_config__.tag, IntakeGapAcknowledged.__struct_config__.tag


def unacknowledged_gaps(db: Database) -> list[OpenGap]:
    """Every IntakeGap without an IntakeGapAcknowledged, oldest first."""
    rows = db.query("SELECT entity_id, position, type, detail FROM trail WHERE kind=? ORDER BY position", (KIND,))
    gaps: dict[str, OpenGap] = {}
    for entity_id, position, type_, detail in rows:
        if type_ == _GAP:
            gap = _Detail.decode(detail)
            gaps[entity_id] = OpenGap(entity_id, position, gap.first_sequence, gap.last_sequence,
                                      f"civic ops ack-gap {entity_id} --reason TEXT")
        elif type_ == _ACK:
            gaps.pop(entity_id, None)
    return list(gaps.values())
