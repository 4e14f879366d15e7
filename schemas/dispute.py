"""Dispute (矛盾纠纷) events: registered with a risk grade, mediated, concluded."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from schemas.base import Category, EntityId, Event, Family, PseudonymousId, ShortText, Text

RiskGrade = Literal["red", "orange", "yellow"]
PartyRole = Literal["applicant", "respondent", "other"]


class DisputeParty(msgspec.Struct, frozen=True, kw_only=True):
    """A party by pseudonym; names and phones go in the event's `personal` part."""

    resident_id: PseudonymousId
    role: PartyRole = "other"


class DisputeEvent(Event, frozen=True):
    family = Family("dispute", "dispute_id", unknown="No dispute with this id has been registered.",
                    exists="A dispute with this id was already registered.")
    dispute_id: EntityId


class DisputeRegistered(DisputeEvent, tag=True, frozen=True):
    """A dispute between residents enters mediation, with its risk grade (red is highest)."""

    creates = True

    category: Category
    risk_grade: RiskGrade
    summary: Text
    parties: Annotated[tuple[DisputeParty, ...], Meta(min_length=2, max_length=50)]


class MediationSessionHeld(DisputeEvent, tag=True, frozen=True):
    """One mediation session took place."""

    notes: Text = ""


class DisputeConcluded(DisputeEvent, tag=True, frozen=True):
    """Mediation ended: settled (with the agreement reached) or failed. Final."""

    outcome: Literal["settled", "failed"]
    agreement: ShortText | None = None


DISPUTE_EVENTS = (DisputeRegistered, MediationSessionHeld, DisputeConcluded)
