"""The wire contract: one module per stream, imports nothing else of ours."""

from schemas.base import Actor, Event, PersonalData, SealedPersonalData
from schemas.deliberation import MeetingHeld, TopicDecided, TopicImplemented, TopicProposed, Votes
from schemas.dispute import DisputeConcluded, DisputeParty, DisputeRegistered, MediationSessionHeld
from schemas.intake import EVENT_TYPES, EVENTS_BY_TYPE, AnyEvent, DecodeFailure, decode, encode
from schemas.organisation import GridWorkerAssigned, OrgUnitMoved, OrgUnitRegistered, OrgUnitRenamed
from schemas.pipeline import IntakeGap, IntakeGapAcknowledged
from schemas.privacy import PersonalDataErased
from schemas.ticket import (
    SupportingTask, TicketAccepted, TicketClosed, TicketContacted, TicketDispatched, TicketExtensionApproved,
    TicketExtensionRefused, TicketExtensionRequested, TicketPaused, TicketProgressNoted, TicketRaised, TicketRated,
    TicketRecategorised, TicketReopened, TicketResolved, TicketResumed, TicketReturned, TicketTaskAccepted,
    TicketTaskCompleted, TicketTransferred, TicketVoided, UnitDeadline,
)

__all__ = [
    "Actor", "AnyEvent", "DecodeFailure", "DisputeConcluded", "DisputeParty", "DisputeRegistered",
    "EVENTS_BY_TYPE", "EVENT_TYPES", "Event", "GridWorkerAssigned", "IntakeGap", "IntakeGapAcknowledged",
    "MediationSessionHeld", "MeetingHeld", "OrgUnitMoved", "OrgUnitRegistered", "OrgUnitRenamed", "PersonalData",
    "PersonalDataErased",
    "SealedPersonalData", "TicketAccepted", "TicketClosed", "TicketDispatched",
    "TicketProgressNoted", "TicketRaised", "TicketRated", "TicketRecategorised", "TicketReopened",
    "TicketResolved", "TicketReturned", "TicketVoided", "TopicDecided", "TopicImplemented",
    "TopicProposed", "Votes", "decode", "encode",
    "SupportingTask", "TicketContacted", "TicketExtensionApproved", "TicketExtensionRefused",
    "TicketExtensionRequested", "TicketPaused", "TicketResumed", "TicketTaskAccepted", "TicketTaskCompleted",
    "TicketTransferred", "UnitDeadline",
]
