"""Micro-list (微清单) ticket events: the four orders 点单 → 派单 → 接单 → 评单 and corrections."""

from __future__ import annotations

from typing import Literal

import msgspec

from schemas.base import (AwareDatetime, Category, EntityId, Event, EventId, Family, Latitude, Longitude, OrgId, PseudonymousId,
                          Reason, ShortText, Text)
from schemas.calendar import Basis

Channel = Literal["mini_program", "hotline", "grid_patrol", "walk_in", "enterprise_platform", "import", "other"]
Satisfaction = Literal["satisfied", "basically_satisfied", "dissatisfied"]


class TicketEvent(Event, frozen=True):
    family = Family("ticket", "ticket_id", unknown="No ticket with this id has been raised.",
                    exists="A ticket with this id was already raised.")
    ticket_id: EntityId


class TicketRaised(TicketEvent, tag=True, frozen=True, kw_only=True):
    """居民点单: the item enters the micro-list. The reporter goes in `personal`, nowhere else
    (their address too: an Open311 address_string is where the resident is, often their home).

    v2: where the problem is, as fields of its own (`lat`/`long`, `address_id`); v1 had none, and
    the Open311 POST folded the location into the description's last line (upcast in
    schemas/evolution.py).
    """

    creates = True

    category: Category
    title: ShortText
    description: Text = ""
    channel: Channel = "other"
    lat: Latitude | None = None
    """Where the problem is (WGS84), when the reporter gave a point; public, like the category."""
    long: Longitude | None = None
    address_id: ShortText | None = None
    """The place's id in the district's own address register (Open311's address_id); public."""
    schema_version: int = 2


class SupportingTask(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """协办: a supporting unit named on a dispatch, with its own task, deadline and sign-for."""

    unit: OrgId
    task: ShortText
    """What this unit is asked to do (e.g. "cut back the trees by the lamp")."""
    deadline: AwareDatetime | None = None
    """When its task is due; None on the wire: the ledger fills it from the policy (`supporting`)."""
    sign_for_by: AwareDatetime | None = None
    """When it must sign for the task; None on the wire: the ledger fills it (`sign_for`)."""


class TicketDispatched(TicketEvent, tag=True, frozen=True, kw_only=True):
    """中心派单: assigned to a lead unit (主办, `to_unit`) and/or a grid worker, with any supporting
    units (协办), to be resolved by `deadline`.

    The deadlines are optional on the wire: the ledger fills every one the producer left out
    from the deadline policy (config/deadlines.yaml) and stores the policy's `policy_version`
    and the names of the fields it filled in `filled`. An explicit deadline is kept as sent. A
    later dispatch of the same ticket (after a return or a reopen) starts new clocks.

    v2: an absolute deadline; v1 sent `deadline_hours` (upcast in schemas/evolution.py). The
    fields after `to_worker` were added compatibly (in v2): events stored before them decode with
    their defaults and keep their fingerprints (`added`).
    """

    org_refs = ("to_unit",)
    refusals = (Reason("bad_deadline", "The deadline is not after the dispatch.", True),
                Reason("no_assignee", "A dispatch names neither a unit nor a grid worker.", True))
    added = ("sign_for_by", "contact_by", "supporting", "counting", "policy_version", "filled")
    ledger_writes = ("counting", "policy_version", "filled")

    deadline: AwareDatetime | None = None
    """When the lead unit must have resolved it; None on the wire: the ledger fills it (`resolve`)."""
    to_unit: OrgId | None = None
    """The lead unit (主办): it signs for the ticket, contacts the resident and resolves it."""
    to_worker: PseudonymousId | None = None
    schema_version: int = 2
    sign_for_by: AwareDatetime | None = None
    """When the lead unit must have signed for it (TicketAccepted); the ledger fills it (`sign_for`)."""
    contact_by: AwareDatetime | None = None
    """When the resident must first have been contacted (TicketContacted); the ledger fills it."""
    supporting: tuple[SupportingTask, ...] = ()
    counting: Basis = "hours"
    """How a pause moves these deadlines: `working_days` when the policy set the resolve deadline
    in working days, else calendar `hours`. Written by the ledger (named in `filled` when not the default)."""
    policy_version: str | None = None
    """The version of the policy the ledger computed the filled deadlines from; None if none was filled."""
    filled: tuple[str, ...] = ()
    """Written by the ledger only: the deadline fields it filled ("deadline", "sign_for_by",
    "contact_by", "supporting.<unit>.deadline", ...). A producer's resend without them is the
    same event (its fingerprint leaves the filled values out)."""


class TicketAccepted(TicketEvent, tag=True, frozen=True):
    """网格员接单: the lead unit's receiver signs for it. `unit`, when given, must be the lead."""

    added = ("unit",)
    org_refs = ("unit",)

    unit: OrgId | None = None


class TicketReturned(TicketEvent, tag=True, frozen=True):
    """The receiver hands it back to dispatch, with a reason."""

    reason: ShortText


class TicketProgressNoted(TicketEvent, tag=True, frozen=True):
    """The receiver records how the work is going; the stage does not change."""

    note: Text


class TicketResolved(TicketEvent, tag=True, frozen=True):
    """The receiver reports it solved, with what was done and optional evidence (a photo id)."""

    added = ("unit",)
    org_refs = ("unit",)

    resolution: Text
    evidence_ref: ShortText | None = None
    unit: OrgId | None = None
    """The unit that resolved it, when given: the lead (a supporting unit completes its task
    with TicketTaskCompleted; the ticket resolves when the lead resolves)."""


class TicketRated(TicketEvent, tag=True, frozen=True):
    """群众评单: one rating per resolution round; `dissatisfied` reopens the ticket."""

    contacted: bool
    resolved: bool
    satisfaction: Satisfaction
    comment: Text = ""


class TicketReopened(TicketEvent, tag=True, frozen=True):
    """Back to dispatch for a new resolution round (e.g. the resident calls back)."""

    reason: ShortText


class TicketClosed(TicketEvent, tag=True, frozen=True):
    """Done: after resolution (and rating, if one came). Final."""


class TicketVoided(TicketEvent, tag=True, frozen=True):
    """A correction: the ticket duplicates `duplicate_of` and is merged into it."""

    refusals = (Reason("bad_duplicate", "A ticket can only be merged into another raised ticket.", True),)

    duplicate_of: EntityId


class TicketRecategorised(TicketEvent, tag=True, frozen=True):
    """A correction of the category; figures by category follow it from then on."""

    category: Category


class TicketTransferred(TicketEvent, tag=True, frozen=True):
    """转办: raised under the wrong unit, handed to the unit whose area it is, with a reason.

    Recorded by dispatch (a dispatcher, or the system) while the ticket awaits dispatch (raised,
    returned or reopened); it leaves the stage as it is, so the destination's centre dispatches
    it next. `from_org_id` must be the unit the ticket stands at (so a transfer based on stale
    knowledge is refused) and `to_org_id` a registered other unit. From then on the ticket
    belongs to `to_org_id`: every figure counts it there, as if raised there (docs/kpis.md), and
    its later events are recorded there. Merging a duplicate is TicketVoided, not this.
    """

    org_refs = ("to_org_id",)
    refusals = (Reason("bad_transfer", "A ticket is transferred from the unit it stands at to another unit.", True),)

    from_org_id: OrgId
    """The unit the ticket stands at: where it was raised, or where its last transfer took it."""
    to_org_id: OrgId
    """The unit whose area it is; the ticket and its figures move there."""
    reason: ShortText


class TicketContacted(TicketEvent, tag=True, frozen=True):
    """The lead unit got in touch with the resident (a call, a visit): the first one stops the
    first-contact clock; later ones are recorded too."""

    how: Literal["phone", "visit", "message", "other"] = "other"
    note: Text = ""


class TicketExtensionRequested(TicketEvent, tag=True, frozen=True):
    """申请延期: the unit working on it asks for a later deadline, with a reason. `unit` names a
    supporting unit for its task's deadline; None asks for the lead's resolve deadline."""

    refusals = (Reason("bad_extension", "An extension moves a deadline of this dispatch to a later time.", True),
                Reason("extension_pending", "An extension request for this deadline awaits a decision.", False))
    org_refs = ("unit",)

    until: AwareDatetime
    reason: ShortText
    unit: OrgId | None = None


class TicketExtensionApproved(TicketEvent, tag=True, frozen=True):
    """延期批准: dispatch grants the pending request; the deadline becomes `until` (which may be
    earlier than asked, never earlier than the current deadline)."""

    refusals = (Reason("no_extension_request", "No extension request for this deadline awaits a decision.", False),)
    ledger_writes = ("unit", "filled")

    request_id: EventId
    """The event_id of the TicketExtensionRequested it answers."""
    until: AwareDatetime
    unit: OrgId | None = None
    """Written by the ledger: the supporting unit whose task's deadline moves, as the request named
    it; None: the lead's resolve deadline."""
    filled: tuple[str, ...] = ()
    """Written by the ledger only: ("unit",) when it named a supporting unit."""


class TicketExtensionRefused(TicketEvent, tag=True, frozen=True):
    """延期驳回: dispatch refuses the pending request; the deadline stays."""

    ledger_writes = ("unit", "filled")

    request_id: EventId
    reason: ShortText
    unit: OrgId | None = None
    """Written by the ledger, as on TicketExtensionApproved."""
    filled: tuple[str, ...] = ()


class TicketPaused(TicketEvent, tag=True, frozen=True):
    """挂起: waiting for the resident (away, not answering, a part they must supply); the
    resolve clocks stop until TicketResumed."""

    refusals = (Reason("already_paused", "The ticket is already paused.", False),)

    reason: ShortText


class UnitDeadline(msgspec.Struct, frozen=True, kw_only=True):
    unit: OrgId | None
    """None: the lead unit's resolve deadline; else a supporting unit's task deadline."""
    deadline: AwareDatetime


class TicketResumed(TicketEvent, tag=True, frozen=True):
    """The resident is back: the clocks run again. The ledger writes the deadlines as they now
    stand (the time that was left when it paused, counted again from now) into `deadlines`."""

    refusals = (Reason("not_paused", "The ticket is not paused.", False),)
    ledger_writes = ("deadlines", "filled")

    deadlines: tuple[UnitDeadline, ...] = ()
    """Written by the ledger only."""
    filled: tuple[str, ...] = ()
    """Written by the ledger only: ("deadlines",) once it has."""


class TicketTaskAccepted(TicketEvent, tag=True, frozen=True):
    """A supporting unit (协办) signs for its task."""

    refusals = (Reason("not_supporting_unit", "The unit is not a supporting unit of the current dispatch.", True),
                Reason("already_signed_for", "This supporting unit already signed for its task.", False))
    org_refs = ("unit",)

    unit: OrgId


class TicketTaskCompleted(TicketEvent, tag=True, frozen=True):
    """A supporting unit reports its task done. The ticket itself resolves when the lead resolves."""

    refusals = (Reason("task_completed", "This supporting unit already completed its task.", False),)
    org_refs = ("unit",)

    unit: OrgId
    result: Text = ""


TICKET_EVENTS = (
    TicketRaised, TicketDispatched, TicketAccepted, TicketReturned, TicketProgressNoted,
    TicketResolved, TicketRated, TicketReopened, TicketClosed, TicketVoided, TicketRecategorised,
    TicketTransferred, TicketContacted, TicketExtensionRequested, TicketExtensionApproved, TicketExtensionRefused,
    TicketPaused, TicketResumed, TicketTaskAccepted, TicketTaskCompleted,
)
