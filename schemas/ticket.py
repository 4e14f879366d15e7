"""Micro-list (微清单) ticket events: the four orders 点单 → 派单 → 接单 → 评单 and corrections."""

from __future__ import annotations

from typing import Literal

from schemas.base import (AwareDatetime, Category, EntityId, Event, Family, Latitude, Longitude, OrgId, PseudonymousId, Reason,
                          ShortText, Text)

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


class TicketDispatched(TicketEvent, tag=True, frozen=True, kw_only=True):
    """中心派单: assigned to a unit and/or a grid worker, to be resolved by `deadline`.

    v2: an absolute deadline; v1 sent `deadline_hours` (upcast in schemas/evolution.py).
    """

    org_refs = ("to_unit",)
    refusals = (Reason("bad_deadline", "The deadline is not after the dispatch.", True),
                Reason("no_assignee", "A dispatch names neither a unit nor a grid worker.", True))

    deadline: AwareDatetime
    to_unit: OrgId | None = None
    to_worker: PseudonymousId | None = None
    schema_version: int = 2


class TicketAccepted(TicketEvent, tag=True, frozen=True):
    """网格员接单: the receiver signs for it."""


class TicketReturned(TicketEvent, tag=True, frozen=True):
    """The receiver hands it back to dispatch, with a reason."""

    reason: ShortText


class TicketProgressNoted(TicketEvent, tag=True, frozen=True):
    """The receiver records how the work is going; the stage does not change."""

    note: Text


class TicketResolved(TicketEvent, tag=True, frozen=True):
    """The receiver reports it solved, with what was done and optional evidence (a photo id)."""

    resolution: Text
    evidence_ref: ShortText | None = None


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


TICKET_EVENTS = (
    TicketRaised, TicketDispatched, TicketAccepted, TicketReturned, TicketProgressNoted,
    TicketResolved, TicketRated, TicketReopened, TicketClosed, TicketVoided, TicketRecategorised,
    TicketTransferred,
)
