"""The deadline clock's events, and the one table of which ticket event opens, meets or ends a deadline.

The clock (consumers/clock.py) records what happens to a deadline as time passes: a reminder
before it, a breach when it passes, a chase (催办) and then supervision (督办) after the policy's
intervals. Each is about one deadline: a ticket's resolution round, a unit (the lead or a
supporting one) and a stage (sign for 接单, first contact with the resident, resolve 办结).

Each event is dated at the instant its rule fired (the deadline, plus or minus the interval),
not when the clock noticed, and its event_id derives from (ticket, round, unit, stage, step):
two clock instances, a restart or a redelivery publish identical bytes, and the ledger's
event-id check keeps one. The aggregate (domain/ticket.py) accepts one only when it is
consistent with the ticket: that deadline exists in that round, and the stage was not met
at or before the instant the rule fired.

`DeadlineBook` is the fold both the aggregate and the clock run over a ticket's events, so
"which deadline is open and when was it met" is written once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, NamedTuple, get_args

from msgspec import Meta

from schemas.base import AwareDatetime, Event, OrgId, Reason, tag_of
from schemas.policy import Stage
from schemas.ticket import (TicketAccepted, TicketClosed, TicketContacted, TicketDispatched, TicketEvent, TicketExtensionApproved,
                            TicketPaused, TicketReopened, TicketResolved, TicketResumed,
                            TicketReturned, TicketTaskAccepted, TicketTaskCompleted, TicketVoided)

DeadlineStage = Stage
"""The policy's clocks (schemas/policy.py): the lead's sign_for (接单, TicketAccepted), first_contact
(TicketContacted) and resolve (办结, TicketResolved); a supporting unit's sign_for (TicketTaskAccepted)
and supporting, its task (TicketTaskCompleted)."""
UnitRole = Literal["lead", "supporting"]
"""主办 (the lead unit: the ticket resolves when it resolves) or 协办 (a supporting unit)."""
Step = Literal["reminder", "breach", "chase", "supervision"]
"""The clock's steps for one deadline, in the order they fire."""
STEPS: tuple[Step, ...] = get_args(Step)
CLOCK_SOURCE = "clock"
"""The `source` and the actor id of every clock event: the system's own clock."""

Round = Annotated[int, Meta(ge=1, description="The ticket's resolution round the deadline belongs to.")]


class DeadlineEvent(TicketEvent, frozen=True, kw_only=True):
    """What the clock records about one deadline. The envelope's org_id is the ticket's unit."""

    refusals = (
        Reason("unknown_deadline", "The ticket has no such deadline (round, unit, stage and instant) open.", False),
        Reason("deadline_met", "The ticket met this deadline before the rule fired.", False),
        Reason("not_due", "The event is dated before the instant its rule fires.", False),
        Reason("not_escalated", "A chase or supervision follows a recorded breach, a second chase the first.", False),
    )
    step: ClassVar[Step]
    """Which step of the clock this event records."""

    round: Round
    unit: OrgId
    """The unit whose deadline it is."""
    unit_role: UnitRole = "lead"
    stage: DeadlineStage
    deadline: AwareDatetime
    """The deadline as the ticket holds it (the dispatch's, moved by an approved extension)."""

    @property
    def step_key(self) -> str:
        """The step as event ids and the deadline's record name it: chases are numbered (chase-1, chase-2)."""
        return self.step


class DeadlineNearing(DeadlineEvent, tag=True, frozen=True, kw_only=True):
    """A reminder: the deadline falls within the policy's warning time and the stage is not met."""

    step = "reminder"


class DeadlineBreached(DeadlineEvent, tag=True, frozen=True, kw_only=True):
    """The deadline passed with the stage not met. Dated at the deadline itself."""

    step = "breach"


class TicketChased(DeadlineEvent, tag=True, frozen=True, kw_only=True):
    """催办: the policy's chase interval after the breach passed with the stage still not met."""

    step = "chase"
    org_refs = ("chased_by",)

    chased_by: OrgId
    """The unit that chases: the ticket's own centre (the unit it stands at)."""
    chase: Annotated[int, Meta(ge=1)] = 1
    """Which chase of this deadline (the policy may chase more than once)."""

    @property
    def step_key(self) -> str:
        return f"chase-{self.chase}"


class TicketSupervised(DeadlineEvent, tag=True, frozen=True, kw_only=True):
    """督办: the policy's supervision interval passed with the stage still not met; escalated upward."""

    step = "supervision"
    org_refs = ("escalated_to",)

    escalated_to: OrgId
    """The unit that now supervises the ticket: the ticket's unit's ancestor at the policy's level."""


CLOCK_EVENTS: tuple[type[DeadlineEvent], ...] = (DeadlineNearing, DeadlineBreached, TicketChased, TicketSupervised)
BY_STEP: dict[str, type[DeadlineEvent]] = {cls.step: cls for cls in CLOCK_EVENTS}


def clock_event_id(ticket_id: str, round: int, unit: str, stage: str, step: str, deadline: datetime) -> str:
    """The id of a clock event: the same inputs always give the same id (so the ledger keeps one).
    The deadline's instant is part of it: an extension or a new dispatch in the same round sets a
    new deadline, whose breach is a new fact. Readable while it fits the 128 characters an event
    id may have; a digest beyond."""
    readable = f"clock:{ticket_id}:{round}:{unit}:{stage}:{int(deadline.timestamp())}:{step}"
    if len(readable) <= 128:
        return readable
    digest = hashlib.sha256(readable.encode()).hexdigest()[:40]
    return f"clock:{digest}:{step}"


# -- the deadline book: which event opens, meets or ends a deadline ------------------------------

Key = tuple[int, str, str]
"""(round, unit, stage)."""


@dataclass
class Deadline:
    """One open (or met) deadline of a ticket."""

    round: int
    unit: str
    unit_role: UnitRole
    stage: DeadlineStage
    due: datetime
    met_at: datetime | None = None
    """When the stage was met (the meeting event's occurred_at), or when the deadline stopped
    counting (the unit handed the ticket back, it was closed or voided); None while open."""
    met_by: str | None = None
    """The event type that met or ended it."""
    steps: set[str] = field(default_factory=set)
    """The clock steps recorded for it (step keys: reminder, breach, chase-1, chase-2, supervision)."""
    paused: bool = False
    """Waiting for the resident (TicketPaused): the clock does not run until TicketResumed moves `due`."""
    paused_at: datetime | None = None
    """When the pause began, while `paused`: a step that fell due before it is still owed (a clock
    catching up may read the pause before it has sent that step; a live one had sent it)."""
    opened: datetime | None = None
    """When the dispatch that set it happened: a reminder due before then is not sent."""

    @property
    def key(self) -> Key:
        return self.round, self.unit, self.stage

    def move(self, due: datetime) -> None:
        """A new deadline is a new clock's worth of steps; the same one (a deadline already passed when
        a pause began stays where it was) keeps what was recorded."""
        if due != self.due:
            self.due, self.steps = due, set()

    def open_at(self, instant: datetime) -> bool:
        """Whether the stage was still not met at `instant` (a stage met exactly at the deadline is on time)."""
        return self.met_at is None or self.met_at > instant


MEETS: dict[str, tuple[DeadlineStage, ...]] = {
    tag_of(TicketAccepted): ("sign_for",),
    tag_of(TicketContacted): ("first_contact",),
    tag_of(TicketResolved): ("sign_for", "first_contact", "resolve"),
    tag_of(TicketTaskAccepted): ("sign_for",),
    tag_of(TicketTaskCompleted): ("sign_for", "supporting"),
}
"""Event type -> the stages it meets, for the lead (or, with a `unit` field, for that supporting unit).
A resolution meets the earlier stages too: a unit that resolved it has signed for it and, by then,
been in contact."""
ENDS: frozenset[str] = frozenset({tag_of(TicketReturned), tag_of(TicketClosed), tag_of(TicketVoided)})
"""Event types after which the open deadlines stop counting: the unit handed it back, or the ticket is done."""
NEW_ROUND = tag_of(TicketReopened)


class DeadlineBook:
    """A ticket's deadlines, folded from its events in ledger order. Pure: no clock, no I/O."""

    def __init__(self) -> None:
        self.round = 1
        self.holder: str | None = None
        """The unit the current dispatch names (the lead)."""
        self.deadlines: dict[Key, Deadline] = {}

    def apply(self, event: Event) -> list[Deadline]:
        """Fold one event; returns the deadlines it opened or changed."""
        changed: list[Deadline] = []
        if isinstance(event, TicketDispatched):
            unit = event.to_unit or event.org_id
            for d in self.open_deadlines():  # a re-dispatch replaces what the previous dispatch set
                del self.deadlines[d.key]
            self.holder = unit
            wanted: list[tuple[str, UnitRole, DeadlineStage, datetime | None]] = [
                (unit, "lead", "sign_for", event.sign_for_by), (unit, "lead", "first_contact", event.contact_by),
                (unit, "lead", "resolve", event.deadline)]
            for task in event.supporting:
                wanted += [(task.unit, "supporting", "sign_for", task.sign_for_by), (task.unit, "supporting", "supporting", task.deadline)]
            for who, role, stage, due in wanted:
                if due is not None:  # on the wire a producer may leave it out; the stored dispatch has it
                    deadline = Deadline(self.round, who, role, stage, due, opened=event.occurred_at)
                    self.deadlines[deadline.key] = deadline
                    changed.append(deadline)
        elif isinstance(event, TicketExtensionApproved):  # `unit` is the ledger's: the request's unit, None for the lead
            found = self._resolving(event.unit)
            if found is not None:
                found.move(event.until)
                changed.append(found)
        elif isinstance(event, TicketPaused):
            for found in self.open_deadlines():
                if found.stage in ("resolve", "supporting"):
                    found.paused, found.paused_at = True, event.occurred_at
                    changed.append(found)
        elif isinstance(event, TicketResumed):
            for moved in event.deadlines:
                found = self._resolving(moved.unit)
                if found is not None:
                    found.move(moved.deadline)
                    found.paused, found.paused_at = False, None
                    changed.append(found)
            for found in self.open_deadlines():
                found.paused, found.paused_at = False, None
        elif isinstance(event, DeadlineEvent):
            found = self.deadlines.get((event.round, event.unit, event.stage))
            if found is not None:
                found.steps.add(event.step_key)
                changed.append(found)
        elif event.type in MEETS:
            unit = getattr(event, "unit", None) or self.holder or ""
            for stage in MEETS[event.type]:
                found = self.deadlines.get((self.round, unit, stage))
                if found is not None and found.met_at is None:
                    found.met_at, found.met_by = event.occurred_at, event.type
                    changed.append(found)
        elif event.type in ENDS:
            for found in self.open_deadlines():
                found.met_at, found.met_by = event.occurred_at, event.type
                changed.append(found)
        if event.type == NEW_ROUND or _dissatisfied(event):
            for found in self.open_deadlines():  # the round's clocks stop with it (a supporting task left undone)
                found.met_at, found.met_by = event.occurred_at, event.type
                changed.append(found)
            self.round += 1
            self.holder = None
        return changed

    def _resolving(self, unit: str | None) -> Deadline | None:
        """The clock an extension or a resumption moves: the lead's resolve (unit None or the lead),
        or a supporting unit's task."""
        if unit is None or unit == self.holder:
            return self.deadlines.get((self.round, self.holder or "", "resolve"))
        return self.deadlines.get((self.round, unit, "supporting"))

    def open_deadlines(self) -> list[Deadline]:
        return [d for d in self.deadlines.values() if d.met_at is None and d.round == self.round]


def _dissatisfied(event: Event) -> bool:
    """A dissatisfied rating starts a new round (schemas/lifecycle.py's branch)."""
    return getattr(event, "satisfaction", None) == "dissatisfied" and event.type == "TicketRated"


# -- the escalation schedule ---------------------------------------------------------------------

class Planned(NamedTuple):
    """One step the clock will record for a deadline, if the stage is still not met at `at`."""

    step_key: str
    """reminder, breach, chase-1, chase-2, ..., supervision."""
    at: datetime
    """The instant the rule fires: the event's occurred_at."""


def step_event(planned: Planned, deadline: Deadline, *, ticket_id: str, org_id: str, chased_by: str,
               escalated_to: str | None) -> DeadlineEvent:
    """The clock event for one planned step: its id and its bytes depend on nothing but these values."""
    from schemas.base import Actor  # noqa: PLC0415 - beside the one use

    kind, _, n = planned.step_key.partition("-")
    common: dict[str, Any] = dict(
        event_id=clock_event_id(ticket_id, deadline.round, deadline.unit, deadline.stage, planned.step_key, deadline.due),
        occurred_at=planned.at, source=CLOCK_SOURCE, actor=Actor(role="system", id=CLOCK_SOURCE), org_id=org_id,
        ticket_id=ticket_id, round=deadline.round, unit=deadline.unit, unit_role=deadline.unit_role,
        stage=deadline.stage, deadline=deadline.due)
    if kind == "chase":
        return TicketChased(**common, chased_by=chased_by, chase=int(n))
    if kind == "supervision":
        if escalated_to is None:
            raise ValueError("supervision needs the unit escalated to")
        return TicketSupervised(**common, escalated_to=escalated_to)
    return BY_STEP[kind](**common)


def check(book: DeadlineBook, event: DeadlineEvent) -> tuple[str, str] | None:
    """Why the ticket refuses this clock event, as (reason code, detail); None when it is consistent.

    The deadline must be open in that round for that unit and stage with that instant; the event
    must not be dated before its own deadline for a breach, nor before the deadline for a chase or
    supervision; the stage must not have been met at or before the event's instant; a chase needs
    a recorded breach and supervision a recorded chase.
    """
    found = book.deadlines.get((event.round, event.unit, event.stage))
    if found is None or found.due != event.deadline:
        return "unknown_deadline", (f"round {event.round} has no {event.stage} deadline at "
                                    f"{event.deadline.isoformat()} for {event.unit}")
    if event.step != "reminder" and event.occurred_at < found.due:
        return "not_due", f"a {event.step} dated {event.occurred_at.isoformat()} is before the deadline {found.due.isoformat()}"
    if not found.open_at(event.occurred_at):
        assert found.met_at is not None
        how = "met" if found.met_by in MEETS else "stopped"  # a return, a new round, closing or voiding stops it
        return "deadline_met", (f"{event.stage} was {how} by {found.met_by} at {found.met_at.isoformat()}, "
                                f"before the {event.step} at {event.occurred_at.isoformat()}")
    before = "breach" if isinstance(event, TicketSupervised) else (
        ("breach" if event.chase == 1 else f"chase-{event.chase - 1}") if isinstance(event, TicketChased) else None)
    if before is not None and before not in found.steps:
        return "not_escalated", f"no {before} is recorded for this deadline"
    return None
