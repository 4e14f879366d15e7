"""The deadline clock's state: every ticket's deadlines, the org tree, the ledger position read,
and the marks that say how far the ledger can be trusted to be complete. One SQLite file in the
data folder (DIR/clock-<name>.sqlite), written in one transaction per ledger message with the
position, so a restart resumes from the position it stored, never from the start of the ledger.

Why SQLite and not a KV bucket: the state is the clock's own (two instances each keep theirs and
the ledger keeps one copy of what they publish), it is read whole at start and written per message;
a local file costs no round trip and no bus permission beyond the clock's consumer.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, get_args
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec

from schemas.base import Event
from schemas.topology import clock_message_id, event_id_of_message_id
from schemas.policy import DeadlineRules, Stage, Terms
from schemas.clock import Deadline, DeadlineBook, DeadlineEvent, Planned, step_event
from schemas.organisation import OrgUnitMoved, OrgUnitRegistered
from schemas.ticket import TicketClosed, TicketEvent, TicketRaised, TicketRecategorised, TicketVoided

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class Escalation(Protocol):
    """When each step fires for one deadline, and which org kinds supervise."""

    @property
    def levels(self) -> tuple[str, ...]:
        """The org kinds supervision escalates to: the nearest ancestor of the unit whose kind is listed."""
        ...

    def plan(self, deadline: Deadline) -> list[Planned]:
        """The steps for this deadline, in the order they fire."""
        ...


@dataclass(frozen=True)
class FixedEscalation:
    """Escalation in calendar time, the same for every ticket (a policy of hours only)."""

    remind_before: timedelta
    chase_after: tuple[timedelta, ...]
    """After the deadline, one per chase (the first is often at the breach itself)."""
    supervise_after: timedelta
    """After the deadline."""
    levels: tuple[str, ...]

    def plan(self, deadline: Deadline) -> list[Planned]:
        due = deadline.due
        steps = [Planned("reminder", due - self.remind_before), Planned("breach", due)]
        steps += [Planned(f"chase-{n}", due + after) for n, after in enumerate(self.chase_after, 1)]
        steps.append(Planned("supervision", due + self.supervise_after))
        return steps


@dataclass(frozen=True)
class PolicyEscalation:
    """The deadline policy's terms for one ticket (config/deadlines.yaml), counted on its calendar
    with THE deadline function (schemas.calendar.deadline_after), as the ledger counts deadlines."""

    rules: DeadlineRules
    terms: Terms

    @property
    def levels(self) -> tuple[str, ...]:
        return self.terms.supervise.levels if self.terms.supervise else ()

    def plan(self, deadline: Deadline) -> list[Planned]:
        due, terms = deadline.due, self.terms
        steps = []
        if terms.reminder_before is not None:  # counted back in calendar time: a reminder is a courtesy, not a deadline
            steps.append(Planned("reminder", due - self.rules.calendar.budget(terms.reminder_before)))
        steps.append(Planned("breach", due))
        if terms.chase is not None and deadline.stage in terms.chase.stages:
            steps += [Planned(f"chase-{n}", self.rules.due(due, after)) for n, after in enumerate(terms.chase.after, 1)]
        if terms.supervise is not None:
            steps.append(Planned("supervision", self.rules.due(due, terms.supervise.after)))
        return sorted(steps, key=lambda p: p.at)


def policy_escalation(rules: DeadlineRules) -> EscalationFor:
    """(category, level) -> the policy's escalation for a ticket of that category dispatched to a unit of that kind."""
    return lambda category, level: PolicyEscalation(rules, rules.terms(category, level or None))


EscalationFor = Callable[[str, str], Escalation]
"""(category, kind of the unit the ticket is dispatched to) -> its escalation terms."""


class _Book(msgspec.Struct):
    round: int
    holder: str | None
    deadlines: list[Deadline]


class TicketClock(msgspec.Struct):
    """What the clock knows of one ticket: an unfinished one, or a finished one that still owes
    steps dated before it finished."""

    ticket_id: str
    org_id: str
    org_path: tuple[str, ...]
    category: str
    book: _Book
    sent: list[str] = []
    """Events published to intake and not yet read back from the ledger: their message ids
    (topology.clock_message_id: the event id at the org path it was published under)."""
    finished: datetime | None = None
    """When the ticket was closed or voided (the event's occurred_at); None while it is not.

    A finished ticket is kept until no step dated before the finish is owed: the clock may read
    the close before it has sent a breach that fell due months earlier (catching up on history,
    a restart), and the ledger takes that breach, so a replay records what a live run does. The
    close ends the open deadlines in the book (schemas/clock.py ENDS), so nothing after it is owed."""

    def fold(self) -> DeadlineBook:
        book = DeadlineBook()
        book.round, book.holder = self.book.round, self.book.holder
        book.deadlines = {d.key: d for d in self.book.deadlines}
        return book


_encode = msgspec.json.Encoder().encode
_decode_ticket = msgspec.json.Decoder(TicketClock).decode


class Due(NamedTuple):
    """A clock event to publish: for which ticket, at which org path, under which message id."""

    clock: TicketClock
    event: DeadlineEvent
    path: tuple[str, ...]
    message_id: str


STAGES: tuple[str, ...] = get_args(Stage)
"""The policy's stages in its own order: a tie-break between two deadlines' steps due at one instant."""


def in_turn(ticket_id: str, deadline: Deadline, planned: Planned, place: int) -> tuple[datetime, str, int, int, str, int, int]:
    """Where a step stands in the order the clock sends what is due: when it fell due; at one
    instant, by ticket, round, the lead before its supporting units, unit, stage, and the step's
    `place` among its ticket's owed steps (ClockState._owed gives a deadline's in plan order, so a
    breach precedes the chase at its own instant). Nothing in it depends on when the clock read what."""
    return (planned.at, ticket_id, deadline.round, deadline.unit_role != "lead", deadline.unit,
            STAGES.index(deadline.stage), place)


@dataclass
class Mark:
    """At instant `observed` (the clock's now), CIVIC_LEDGER's last sequence was `last_seq`: once the
    clock has read up to last_seq, it has seen everything the ledger held then. `taken` and `since`
    are real time (seconds since the epoch): when the mark was taken, and since when last_seq had
    not changed (how long the ledger had been quiet; real time, whatever the clock's now says).
    `history` is the history's own time (ClockState.ledger_time) once the clock had read up to
    last_seq: what the history the ledger held then vouches for, however far the clock has read since."""

    observed: float
    last_seq: int
    since: float
    taken: float
    history: float | None = None
    """None until the clock has read up to last_seq (and for a mark stored before this was kept)."""


@dataclass
class ClockState:
    path: Path
    position: int = 0
    ledger_time: float = 0.0
    """The latest occurred_at read (seconds since the epoch): how far the ledger's own history has got."""
    tickets: dict[str, TicketClock] = field(default_factory=dict)
    orgs: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    """org_id -> (parent id, kind)."""
    marks: list[Mark] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS position (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, ledger_time REAL NOT NULL);
            CREATE TABLE IF NOT EXISTS tickets (ticket_id TEXT PRIMARY KEY, state BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS orgs (org_id TEXT PRIMARY KEY, parent TEXT, kind TEXT NOT NULL);
            CREATE TABLE IF NOT EXISTS marks (observed REAL NOT NULL, last_seq INTEGER NOT NULL, since REAL NOT NULL, taken REAL NOT NULL,
                                              history REAL);
        """)
        if "history" not in {r[1] for r in self.db.execute("PRAGMA table_info(marks)")}:  # a state file from before it was kept
            self.db.execute("ALTER TABLE marks ADD COLUMN history REAL")
        row = self.db.execute("SELECT seq, ledger_time FROM position").fetchone()
        if row:
            self.position, self.ledger_time = row
        self.tickets = {t: _decode_ticket(state) for t, state in self.db.execute("SELECT ticket_id, state FROM tickets")}
        self.orgs = {o: (p, k) for o, p, k in self.db.execute("SELECT org_id, parent, kind FROM orgs")}
        self.marks = [Mark(*r) for r in self.db.execute("SELECT observed, last_seq, since, taken, history FROM marks ORDER BY taken")]

    def close(self) -> None:
        self.db.close()

    # -- reading the ledger ------------------------------------------------------------------

    def read(self, seq: int, event: Event | None) -> list[DeadlineEvent]:
        """Fold the ledger message at `seq` (None: an event the clock ignores) and store it with the
        position, in one transaction. Returns the clock events it recorded (to notify about)."""
        recorded: list[DeadlineEvent] = []
        with self._transaction():
            if isinstance(event, TicketEvent):
                recorded = self._ticket(event)
            elif isinstance(event, OrgUnitRegistered | OrgUnitMoved):
                self._org(event)
            self.position = seq
            if event is not None:
                self.ledger_time = max(self.ledger_time, event.occurred_at.timestamp())
            self.db.execute("INSERT INTO position VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, "
                            "ledger_time = excluded.ledger_time", (self.position, self.ledger_time))
            for m in self.marks:
                if m.last_seq == seq and m.history is None:  # read up to what the ledger held at the mark
                    m.history = self.ledger_time
                    self.db.execute("UPDATE marks SET history = ? WHERE last_seq = ? AND history IS NULL", (m.history, seq))
        return recorded

    def _ticket(self, event: TicketEvent) -> list[DeadlineEvent]:
        tid = event.ticket_id
        if isinstance(event, TicketRaised):
            self.tickets[tid] = TicketClock(tid, event.org_id, event.org_path, event.category, _Book(1, None, []))
        clock = self.tickets.get(tid)
        if clock is None:
            return []  # raised before this clock's history began, or finished with nothing left to send
        if isinstance(event, TicketClosed | TicketVoided):
            clock.finished = event.occurred_at  # kept, and folded: the close ends its open deadlines
        book = clock.fold()
        book.apply(event)
        clock.book = _Book(book.round, book.holder, list(book.deadlines.values()))
        clock.org_id, clock.org_path = event.org_id, event.org_path or clock.org_path
        if isinstance(event, TicketRecategorised):
            clock.category = event.category
        recorded = []
        if isinstance(event, DeadlineEvent):
            clock.sent = [m for m in clock.sent if event_id_of_message_id(m) != event.event_id]
            recorded.append(event)
        self.db.execute("INSERT INTO tickets VALUES (?, ?) ON CONFLICT (ticket_id) DO UPDATE SET state = excluded.state",
                        (tid, _encode(clock)))
        return recorded

    def _org(self, event: OrgUnitRegistered | OrgUnitMoved) -> None:
        entry: tuple[str | None, str]
        if isinstance(event, OrgUnitRegistered):
            entry = (event.parent_id, event.kind)
        else:
            entry = (event.new_parent_id, self.orgs.get(event.org_id, (None, ""))[1])
        self.orgs[event.org_id] = entry
        self.db.execute("INSERT INTO orgs VALUES (?, ?, ?) ON CONFLICT (org_id) DO UPDATE SET parent = excluded.parent, "
                        "kind = excluded.kind", (event.org_id, *entry))

    # -- the barrier ---------------------------------------------------------------------------

    def mark(self, observed: datetime, last_seq: int, real: float | None = None, quiet: float | None = None) -> None:
        """Store what the ledger held at `observed`. Of the marks the position has passed, those from
        the last that vouches on are kept (taken while the ledger held still, or `quiet` seconds ago;
        the later ones, taken while it grew, vouch once they are that old: settled_until): that one
        and at most 49 after it, thinned when there are more."""
        taken = time.time() if real is None else real
        before = self.marks[-1] if self.marks else None
        since = before.since if before and before.last_seq == last_seq and before.taken <= taken else taken
        m = Mark(observed.timestamp(), last_seq, since, taken, self.ledger_time if self.position >= last_seq else None)
        passed = [x for x in self.marks if x.last_seq <= self.position]
        vouches = max((i for i, x in enumerate(passed) if x.taken > x.since or quiet is not None and taken - x.taken >= quiet),
                      default=0)
        kept, later = passed[vouches:vouches + 1], passed[vouches + 1:]
        while len(later) > 49:  # thinned, every other one from the newest back: some live long enough to vouch
            later = later[::-1][::2][::-1]
        keep = [x for x in self.marks if x.last_seq > self.position][-50:]  # a bounded backlog while catching up
        self.marks = [*kept, *later, *keep, m]
        with self._transaction():
            self.db.execute("DELETE FROM marks")
            self.db.executemany("INSERT INTO marks VALUES (?, ?, ?, ?, ?)",
                                [(x.observed, x.last_seq, x.since, x.taken, x.history) for x in self.marks])

    def settled_until(self, quiet: float, real: float | None = None) -> datetime:
        """The latest instant up to which the ledger, as read so far, is complete.

        A mark counts once the position has reached its last sequence. It vouches for its instant
        when the ledger was quiet then (no new message for `quiet` seconds of real time), or else only
        up to the history's own time (the latest occurred_at) as the ledger held it at the mark:
        while history is being published (a backfill, the demo's year in a minute) an event stamped
        before a deadline may still be on its way, so the history must itself have passed the deadline.

        Nothing here depends on how far the clock has read past a mark, so neither does what falls
        due: once the ledger has grown since a quiet mark (catching up, after a restart or a burst
        of history), that mark vouches only for the history's time as well, and the history read
        past the marks counts once a mark covers it. Had it counted as it was read, a tick would
        send what the part read by then owed (one ticket's breach before another's, dated earlier,
        that the clock had not read yet), and a re-run, ticking elsewhere in the backlog, would send
        another order. Nor does a mark taken while the ledger was growing (its last sequence new
        since the mark before) vouch for the history it held until it is `quiet` seconds old (real
        time; `real` is now) or a later look finds the ledger still at that sequence (that mark
        vouches for the same history): a burst of history the ledger takes in pieces is judged
        whole, not by the piece a tick happened to see, while a ledger that never stops growing
        holds the clock back by `quiet` seconds at most.
        """
        now = time.time() if real is None else real
        best = 0.0
        for m in self.marks:
            if m.last_seq > self.position:
                continue
            history = self.ledger_time if m.history is None else m.history
            if m.taken - m.since >= quiet and m.last_seq == self.marks[-1].last_seq:
                best = max(best, m.observed)
            elif m.taken > m.since or now - m.taken >= quiet:
                best = max(best, min(m.observed, history))
        return EPOCH + timedelta(seconds=best)

    # -- what is due -----------------------------------------------------------------------------

    def due(self, until: datetime, escalation: EscalationFor) -> Iterator[Due]:
        """The clock events whose rule has fired by `until`, not recorded and not sent at the unit's
        present path, in the order they fell due (`in_turn`: the instant, then ticket, round, unit,
        stage and the step's place in its deadline's plan, so a breach comes before its chases). A
        finished ticket's are those dated before it finished (its book ended the deadlines then).

        One order over every ticket and deadline, not ticket by ticket: what a tick finds owed
        depends on how far the clock had read when it ticked (catching up, a tick may fall between
        a ticket's pause and its resumption, or find one ticket's steps before another's dispatch is
        read), and the ledger keeps the clock's events in the order they are sent. In the order they
        fell due, a catch-up in one tick sends what several ticks would, in the same order: a re-run
        of the same history gives the same ledger. (A step that becomes owed only once later history
        is read, dated before steps already sent, follows them: the ledger cannot take it earlier.)

        A step sent at a path the unit has since left is sent again at the new one, and the steps
        after it behind it: the ledger refused it (subject_mismatch) and, for want of it, the chase
        or supervision sent after it (not_escalated). Had the ledger taken it before the move, the
        clock would have read it back before reading the move. In flight at the present path, a
        step's successors may follow it: intake keeps their order, and the ledger its own."""
        owed = sorted(((in_turn(clock.ticket_id, d, planned, n), clock, d, planned, terms)
                       for clock in self.tickets.values()
                       for n, (d, planned, terms) in enumerate(self._owed(clock, escalation, until))),
                      key=lambda o: o[0])
        paths: dict[str, tuple[str, ...]] = {}  # where each unit stands now (it may have moved): walked once per ticket
        for _, clock, d, planned, terms in owed:
            escalated = self.supervisor(d.unit, terms.levels) if planned.step_key == "supervision" else None
            event = step_event(planned, d, ticket_id=clock.ticket_id, org_id=clock.org_id,
                               chased_by=clock.org_id, escalated_to=escalated)
            if clock.ticket_id not in paths:
                paths[clock.ticket_id] = self.org_path(clock.org_id, clock.org_path)
            path = paths[clock.ticket_id]
            message_id = clock_message_id(event.event_id, path)
            if message_id not in clock.sent:
                yield Due(clock, event, path, message_id)

    def _owed(self, clock: TicketClock, escalation: EscalationFor, until: datetime | None = None
              ) -> Iterator[tuple[Deadline, Planned, Escalation]]:
        """The ticket's steps not recorded (sent or not) whose rule had fired, with the stage still
        unmet, by `until` (None: ever), in order per deadline.

        A paused deadline's clock stopped when the pause began: what fell due before it is owed,
        nothing at or after it (as a stage met at a step's instant stops that step; a state saved
        before `paused_at` existed owes nothing while paused, as it did). Not covered: a step of a
        deadline that an extension or a resume has moved since (both read before the step was sent)
        is not owed, as the ledger checks a step against the deadline as it now stands
        (schemas/clock.py `check`): a live clock had recorded it, one catching up does not."""
        for d in clock.book.deadlines:
            if d.paused and d.paused_at is None:
                continue
            terms = escalation(clock.category, self.orgs.get(clock.book.holder or d.unit, (None, ""))[1])
            for planned in terms.plan(d):
                if until is not None and planned.at > until or not d.open_at(planned.at) or d.paused_at and planned.at >= d.paused_at:
                    break
                if planned.step_key in d.steps or planned.step_key == "reminder" and d.opened and planned.at <= d.opened:
                    continue  # recorded already; or a reminder that would come before the dispatch itself
                yield d, planned, terms

    def forget_finished(self, escalation: EscalationFor) -> int:
        """Forget the finished tickets that owe nothing more: every step dated before the finish
        is read back from the ledger, or refused for good (the book, read on, shows the stage met or
        the deadline moved before the step: the ledger refused it and it is not owed). A step in
        flight or not yet sent keeps its ticket. Returns how many were forgotten."""
        done = [t for t, clock in self.tickets.items()
                if clock.finished is not None and next(self._owed(clock, escalation), None) is None]
        if done:
            with self._transaction():
                self.db.executemany("DELETE FROM tickets WHERE ticket_id = ?", [(t,) for t in done])
            for t in done:
                del self.tickets[t]
        return len(done)

    def org_path(self, org_id: str, recorded: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The org ids from the root down to `org_id` as the tree stands now (a unit may have moved
        since the ticket's events were recorded); `recorded` if the clock does not know the unit."""
        if org_id not in self.orgs:
            return recorded or (org_id,)
        out, at = [org_id], self.orgs[org_id][0]
        while at is not None and len(out) <= 64:
            out.append(at)
            at = self.orgs.get(at, (None, ""))[0]
        return tuple(reversed(out))

    def supervisor(self, unit: str, levels: tuple[str, ...]) -> str:
        """The nearest ancestor of `unit` whose kind is in `levels`; the root if none is."""
        seen, at = unit, self.orgs.get(unit, (None, ""))[0]
        while at is not None:
            seen = at
            parent, kind = self.orgs.get(at, (None, ""))
            if kind in levels:
                return at
            at = parent
        return seen

    def sent(self, clock: TicketClock, message_id: str) -> None:
        clock.sent.append(message_id)
        with self._transaction():
            self.db.execute("UPDATE tickets SET state = ? WHERE ticket_id = ?", (_encode(clock), clock.ticket_id))

    def _transaction(self) -> _Tx:
        return _Tx(self.db)


class _Tx:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN")
        return self.db

    def __exit__(self, kind: object, *_: object) -> None:
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
