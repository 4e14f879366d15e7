"""Privacy events: a resident's personal data erased, recorded in the ledger like any other fact.

Each erasure is an entity of its own (`erasure_id`), so one resident may be erased again after
new data came in under a fresh key.
"""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from schemas.base import EntityId, Event, Family, PseudonymousId, ShortText


class ErasureEvent(Event, frozen=True):
    """An event about one erasure of a resident's personal data."""

    family = Family("erasure", "erasure_id", unknown="No erasure with this id was recorded.",
                    exists="An erasure with this id was already recorded.")


class PersonalDataErased(ErasureEvent, tag=True, frozen=True):
    """A resident's personal data is erased: the ledger destroys the keys that sealed it, and the
    eraser deletes the resident's messages from intake and the rejections. Hashes stay valid."""

    creates = True

    erasure_id: EntityId
    resident_id: PseudonymousId
    reason: ShortText
    erased_keys: tuple[Annotated[str, Meta(pattern=r"^[0-9a-f]{16}$")], ...] = ()
    """Written by the ledger only: the fingerprints (key_id) of the keys destroyed; every start
    destroys them again, so a restored backup of the keys cannot bring the data back."""


PRIVACY_EVENTS = (PersonalDataErased,)
