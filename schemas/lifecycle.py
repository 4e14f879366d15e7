"""The ticket lifecycle, once: its stages, which event may follow which stage and who may record
it, and what each event does to the stage and the resolution round.

The aggregate's rules (domain/ticket.py), the read model's fold and its status lists
(projections/), the audit trail and Open311's open/closed mapping all derive from these two
tables; tests/unit/test_ticket_rules.py checks the ledger against an independent oracle and
tests/unit/test_lifecycle.py checks the tables' shape (every stage reachable, final stages
without exits, one row per ticket event type).

    raised → dispatched → accepted → resolved → rated → closed      (the four orders)
    a return goes back to dispatch; a reopen or a dissatisfied rating starts a new round from
    dispatch; a transfer (转办) while it awaits dispatch hands it to another unit, stage unchanged;
    voided (merged into a duplicate) and closed are final.
    While it is being worked (dispatched or accepted) its clocks may be paused and resumed, an
    extension requested and decided, the resident contacted, and supporting units (协办) sign
    for and complete their tasks (a task may also be completed after the lead resolved); none of
    these changes the stage. The aggregate adds who (lead or supporting unit) and when.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

from schemas.clock import CLOCK_EVENTS
from schemas.ticket import (
    TicketAccepted, TicketClosed, TicketContacted, TicketDispatched, TicketEvent, TicketExtensionApproved,
    TicketExtensionRefused, TicketExtensionRequested, TicketPaused, TicketProgressNoted, TicketRaised, TicketRated,
    TicketRecategorised, TicketReopened, TicketResolved, TicketResumed, TicketReturned, TicketTaskAccepted,
    TicketTaskCompleted, TicketTransferred, TicketVoided,
)

Stage = Literal["raised", "dispatched", "accepted", "returned", "resolved", "rated", "reopened", "closed", "voided"]
Status = Literal["open", "resolved", "closed", "voided"]


class StageRow(NamedTuple):
    name: Stage
    status: Status
    """How readers group it: open (work outstanding: Open311 'open', kpis.md#open), resolved (in
    its current round, awaiting a rating or closing), closed, voided."""
    final: bool = False
    """Nothing more may happen (refused as ticket_finished); a final stage has no exits."""


STAGE_TABLE: tuple[StageRow, ...] = (
    StageRow("raised", "open"),
    StageRow("dispatched", "open"),
    StageRow("accepted", "open"),
    StageRow("returned", "open"),
    StageRow("resolved", "resolved"),
    StageRow("rated", "resolved"),
    StageRow("reopened", "open"),
    StageRow("closed", "closed", final=True),
    StageRow("voided", "voided", final=True),
)

STAGES: tuple[Stage, ...] = tuple(row.name for row in STAGE_TABLE)
FINAL: tuple[Stage, ...] = tuple(row.name for row in STAGE_TABLE if row.final)
UNFINISHED: frozenset[str] = frozenset(row.name for row in STAGE_TABLE if not row.final)


def with_status(status: Status) -> tuple[Stage, ...]:
    """The stages readers call `status`, in table order."""
    return tuple(row.name for row in STAGE_TABLE if row.status == status)


OPEN: tuple[Stage, ...] = with_status("open")
"""Work outstanding: not resolved in its current round, not closed or voided."""


class Branch(NamedTuple):
    """When the event's `field` equals `value`, it leads to `to` instead of the row's stage."""

    field: str
    value: str
    to: str
    new_round: bool


class Rule(NamedTuple):
    event: type[TicketEvent]
    roles: frozenset[str]
    """The actor roles that may record it (else role_not_allowed)."""
    after: frozenset[str]
    """The stages it may follow (else wrong_stage); empty for the event that creates the ticket."""
    to: str | None
    """The stage it leads to; None: the stage does not change."""
    new_round: bool = False
    """It starts a new resolution round (round + 1): the ticket goes back to dispatch."""
    branch: Branch | None = None


RECEIVERS = frozenset({"receiver", "grid_worker", "unit"})
DISPATCHERS = frozenset({"dispatcher", "system"})
RESOLVED_ROUND: frozenset[str] = frozenset(with_status("resolved"))
"""Resolved in the current round: it may be rated, reopened or closed."""
AWAITING_DISPATCH = frozenset({"raised", "returned", "reopened"})
"""No one holds it: dispatch decides what happens next (dispatch it, or transfer it)."""
IN_HAND = frozenset({"dispatched", "accepted"})
"""Dispatched and not yet resolved in this round: its deadlines run (docs/kpis.md#deadlines)."""

DISPATCHED_ONCE: frozenset[str] = UNFINISHED - {"raised"}
"""Every unfinished stage a dispatch has been made before (a deadline can exist)."""

LIFECYCLE: tuple[Rule, ...] = (
    Rule(TicketRaised, frozenset({"resident", "enterprise", "grid_worker", "dispatcher", "unit", "system"}),
         frozenset(), "raised"),
    Rule(TicketDispatched, DISPATCHERS, AWAITING_DISPATCH | {"dispatched"},  # re-dispatch before acceptance
         "dispatched"),
    Rule(TicketAccepted, RECEIVERS, frozenset({"dispatched"}), "accepted"),
    Rule(TicketReturned, RECEIVERS, frozenset({"dispatched", "accepted"}), "returned"),
    Rule(TicketProgressNoted, RECEIVERS, frozenset({"accepted"}), None),
    Rule(TicketResolved, RECEIVERS, frozenset({"accepted"}), "resolved"),
    # From "rated" too: the aggregate refuses a second rating of one round as already_rated.
    Rule(TicketRated, frozenset({"resident", "enterprise", "dispatcher"}), RESOLVED_ROUND, "rated",  # 12345 call-backs rate for the resident
         branch=Branch("satisfaction", "dissatisfied", "reopened", new_round=True)),
    Rule(TicketReopened, frozenset({"resident", "enterprise", "dispatcher", "system"}), RESOLVED_ROUND, "reopened",
         new_round=True),
    Rule(TicketClosed, DISPATCHERS, RESOLVED_ROUND, "closed"),
    Rule(TicketVoided, DISPATCHERS, UNFINISHED, "voided"),
    Rule(TicketRecategorised, DISPATCHERS, UNFINISHED, None),
    # Only while no one holds it; the stage stays: it still awaits dispatch, at the new unit.
    Rule(TicketTransferred, DISPATCHERS, AWAITING_DISPATCH, None),
    # Deadlines and units (issue 13): none moves the stage.
    Rule(TicketContacted, RECEIVERS, IN_HAND, None),
    Rule(TicketExtensionRequested, RECEIVERS, IN_HAND, None),
    Rule(TicketExtensionApproved, DISPATCHERS, IN_HAND, None),
    Rule(TicketExtensionRefused, DISPATCHERS, IN_HAND, None),
    # Waiting for the resident: the receiver says so, or the centre (a 12345 call-back found them away).
    Rule(TicketPaused, RECEIVERS | DISPATCHERS, IN_HAND, None),
    Rule(TicketResumed, RECEIVERS | DISPATCHERS, IN_HAND, None),
    Rule(TicketTaskAccepted, RECEIVERS, IN_HAND, None),
    Rule(TicketTaskCompleted, RECEIVERS, IN_HAND | RESOLVED_ROUND, None),
    # The deadline clock (schemas/clock.py): the system only, once a dispatch has set a deadline,
    # stage unchanged; the aggregate checks the deadline itself (schemas.clock.check). A closed or
    # voided ticket takes one too: it records an instant, often before its recording (the clock
    # catching up on history while the ledger has gone on), and the check refuses it if the ticket
    # was finished, or the stage met, by then (deadline_met).
    *(Rule(cls, frozenset({"system"}), DISPATCHED_ONCE | set(FINAL), None) for cls in CLOCK_EVENTS),
)

RULES: dict[type, Rule] = {rule.event: rule for rule in LIFECYCLE}
"""Event class -> its rule."""
RULES_BY_TYPE: dict[str, Rule] = {str(rule.event.__struct_config__.tag): rule for rule in LIFECYCLE}
"""Event type name (the wire's `type`) -> its rule."""
START: str = next(rule.to for rule in LIFECYCLE if rule.event.creates and rule.to)
FIRST_ROUND = 1


class Move(NamedTuple):
    stage: str | None
    """The stage after the event; None: unchanged."""
    new_round: bool


_STAY = Move(None, False)


def move(event_type: str, field: Callable[[str], object]) -> Move:
    """What an event of this type does to a ticket: its next stage and whether a new round starts.
    `field` reads the event's facts (getattr on an event, dict.get on its stored JSON); a type
    that is not a ticket event changes nothing."""
    rule = RULES_BY_TYPE.get(event_type)
    if rule is None:
        return _STAY
    if rule.branch is not None and field(rule.branch.field) == rule.branch.value:
        return Move(rule.branch.to, rule.branch.new_round)
    return Move(rule.to, rule.new_round)


def leads_to(stage: str) -> list[Rule]:
    """The rules whose event can lead to `stage` (a branch included)."""
    return [r for r in LIFECYCLE if r.to == stage or (r.branch is not None and r.branch.to == stage)]
