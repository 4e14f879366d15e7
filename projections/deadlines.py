"""Deadline tasks (docs/kpis.md#deadlines): one row per (ticket, round, unit, stage) with its
deadline and what the ledger recorded of it: met, withdrawn, breached, chased, supervised.

Folded inside the dashboard projection's batch (projections/dashboard.py), so the rows and the
ledger position are written in one transaction like every other table. Every instant is an
event's `occurred_at`; nothing here reads a clock, which is what lets `civic audit replay
--as-of` reproduce the figures (projections/deadline_queries.py reads them).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import get_args

import schemas as s
from collections import defaultdict

from projections.facts import Clock, TicketState, rolled_up, upsert
from projections.layout import CounterTable, month_of
from projections.store import Database, clustered
from schemas.clock import ENDS, MEETS, NEW_ROUND, DeadlineBreached, DeadlineEvent, TicketChased, TicketSupervised, UnitRole
from schemas.policy import Stage
from schemas.ticket import TicketExtensionApproved, TicketResumed, TicketTransferred

STAGES: tuple[str, ...] = get_args(Stage)
"""The policy's and the clock's stages (docs/kpis.md#deadline-tasks)."""
ROLES: tuple[str, ...] = get_args(UnitRole)
"""主办, 协办: counted apart everywhere."""
ROLE_STAGES: dict[str, tuple[str, ...]] = {"lead": ("sign_for", "first_contact", "resolve"), "supporting": ("sign_for", "supporting")}
"""The stages a dispatch gives each role (schemas/clock.py's DeadlineBook opens the same): the lead
signs for it, contacts the resident and resolves it; a supporting unit signs for its task and does it."""


@dataclass
class Task:
    """One row of deadline_tasks."""

    ticket_id: str
    round: int
    unit: str
    """The org unit holding the task: the dispatch's unit, else the unit the ticket stands at (as the clock keys it)."""
    stage: str
    role: str
    path: str
    """The ticket's org path, where the task counts (the ticket's rule, transfers included)."""
    category: str
    dispatched_at: int
    due_at: int
    due_day: str
    """The deadline's day in the district's time zone (months and windows are of the deadline)."""
    met_at: int | None = None
    withdrawn_at: int | None = None
    breached_at: int | None = None
    """The instant the recorded breach fired (its event's occurred_at): the first one recorded."""
    chased: int = 0
    supervised_at: int | None = None
    supervised_by: str | None = None
    """The org unit the supervision escalated to."""
    extended: int = 0
    """1 once an approved extension moved the deadline."""
    paused: int = 0
    """1 once a resumption after a pause moved the deadline."""
    updated_at: int = 0

    @property
    def key(self) -> tuple[str, int, str, str]:
        return self.ticket_id, self.round, self.unit, self.stage

    @property
    def pending(self) -> bool:
        """Neither met nor withdrawn: the unit still owes it."""
        return self.met_at is None and self.withdrawn_at is None

    def row(self) -> tuple:
        return _ROW(self)


COLUMNS = tuple(f.name for f in fields(Task))
_ROW = attrgetter(*COLUMNS)  # the row in C: a batch writes every task it changed
_INTEGERS = {"round", "chased", "extended", "paused"}


COUNTERS = ("due", "on_time", "late", "chased", "supervised", "breached", "late_reports", "extended", "paused")
"""docs/kpis.md#timeliness, per task: each is 0 or 1 (see `counts`)."""


def counts(task: Task) -> tuple[int, ...]:
    """What one task adds to each timeliness counter (docs/kpis.md#timeliness)."""
    on_time = task.met_at is not None and task.met_at <= task.due_at
    late = (task.met_at is not None and task.met_at > task.due_at) or (task.met_at is None and task.breached_at is not None)
    breached = task.breached_at is not None
    return (1, int(on_time), int(late), int(task.chased > 0), int(task.supervised_at is not None), int(breached),
            int(on_time and breached), task.extended, task.paused)


def overdue_now(task: Task) -> bool:
    """docs/kpis.md#overdue-now-chased-supervised: a breach recorded, still owed."""
    return task.pending and task.breached_at is not None


def ddl(dialect: str) -> list[str]:
    text = 'TEXT COLLATE "C"' if dialect == "postgres" else "TEXT"
    big = "BIGINT" if dialect == "postgres" else "INTEGER"
    cols = ", ".join(f"{c} {big}" if c.endswith("_at") else f"{c} INTEGER NOT NULL" if c in _INTEGERS else f"{c} {text}"
                     for c in COLUMNS)
    by_key = clustered(dialect)
    return [
        f"CREATE TABLE IF NOT EXISTS deadline_tasks ({cols}, PRIMARY KEY (ticket_id, round, unit, stage)){by_key}",
        # The deadline board's part-months (deadline_queries.py `_per_unit`) read the tasks due in a
        # window of any subtree: keyed by the deadline first, that is the window's tasks whatever the
        # history. Keyed by path first (deadline_tasks_due, dropped), the district's read was its
        # whole history (p99 825 ms at 1M events on SQLite), and the fold wrote into every unit's page
        # of the index; deadlines come roughly in time order, so now its inserts land near the end.
        "DROP INDEX IF EXISTS deadline_tasks_due",
        "CREATE INDEX IF NOT EXISTS deadline_tasks_when ON deadline_tasks (due_at, path)",
        # The 督办 list reads only the tasks under supervision and still owed: a small partial index.
        "CREATE INDEX IF NOT EXISTS deadline_tasks_supervised ON deadline_tasks (path, due_at) "
        "WHERE met_at IS NULL AND withdrawn_at IS NULL AND supervised_at IS NOT NULL",
        # Counters for every unit on the ticket's path (as ticket_daily): a subtree's figures are
        # equality lookups, whatever its size. Per deadline day, per holding unit and month (both
        # keyed month first: projections/layout.py), and the stock of tasks overdue now.
        *(table.ddl(dialect) for table in COUNTER_TABLES),
        f"CREATE TABLE IF NOT EXISTS deadline_overdue (prefix {text}, unit {text}, role {text}, stage {text}, "
        f"overdue_now INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (prefix, unit, role, stage)){by_key}",
    ]


DAILY = CounterTable("deadline_daily", ("prefix", "role", "stage", "day"), COUNTERS)
MONTHLY = CounterTable("deadline_unit_monthly", ("prefix", "unit", "role", "stage", "month"), COUNTERS)
COUNTER_TABLES = [DAILY, MONTHLY]
"""Stored month-major (projections/layout.py); deadline_overdue is a stock, one row per unit, not by period."""


def upsert_overdue(source: str | None = None) -> str:
    return upsert("deadline_overdue", ("prefix", "unit", "role", "stage"), ("overdue_now",), source=source)


UPSERT_OVERDUE = upsert_overdue()


def added_from(source: str) -> dict[str, str]:
    """Each table of counters of the deadlines -> the SQL adding the same table's rows in the schema
    `source` to it (a rebuild's share: projections/dashboard.py DashboardProjection.add_share)."""
    return {**{t.name: t.added_from(source) for t in COUNTER_TABLES}, "deadline_overdue": upsert_overdue(source)}


SAVE = (f"INSERT INTO deadline_tasks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
        f"ON CONFLICT (ticket_id, round, unit, stage) DO UPDATE SET "
        + ", ".join(f"{c}=excluded.{c}" for c in COLUMNS if c not in ("ticket_id", "round", "unit", "stage")))


def _ts(instant: object) -> int:
    return int(instant.timestamp())  # type: ignore[attr-defined]


class DeadlineFold:
    """The deadline tasks of the tickets one batch touches: loaded once, changed in memory,
    written back with the batch (only those it changed: their rows and their counters' deltas)."""

    def __init__(self, db: Database, clock: Clock, ticket_ids: Iterable[str]):
        self.db, self.clock = db, clock
        self.tasks: dict[tuple[str, int, str, str], Task] = {}
        self.by_ticket: dict[str, dict[tuple[str, int, str, str], Task]] = defaultdict(dict)
        """The same tasks per ticket: an event looks at its own ticket's, not the whole batch's."""
        self.loaded: dict[tuple[str, int, str, str], tuple] = {}
        """Each loaded task's row as stored: what write() compares with and takes away."""
        ids = sorted(set(ticket_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for row in db.query(f"SELECT {', '.join(COLUMNS)} FROM deadline_tasks WHERE ticket_id IN ({', '.join('?' * len(chunk))})", chunk):
                task = Task(*row)
                self._put(task)
                self.loaded[task.key] = row
        self.daily: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(COUNTERS))
        self.monthly: dict[tuple, list[int]] = defaultdict(lambda: [0] * len(COUNTERS))
        self.overdue: dict[tuple, list[int]] = defaultdict(lambda: [0])

    def _put(self, task: Task) -> None:
        self.tasks[task.key] = self.by_ticket[task.ticket_id][task.key] = task

    def _contribute(self, task: Task, sign: int) -> None:
        """The task's counters, added (after the batch) or taken away (before it)."""
        for key, table in (((task.path, task.role, task.stage, task.due_day), self.daily),
                           ((task.path, task.unit, task.role, task.stage, month_of(task.due_day)), self.monthly)):
            row = table[key]
            for i, n in enumerate(counts(task)):
                row[i] += sign * n
        if overdue_now(task):
            self.overdue[(task.path, task.unit, task.role, task.stage)][0] += sign

    def of(self, ticket_id: str) -> list[Task]:
        tasks = self.by_ticket.get(ticket_id)
        return list(tasks.values()) if tasks else []

    def apply(self, t: TicketState, e: s.Event, at: int, round_before: int) -> None:
        """Event e (already folded into the ticket's state t; its round before the event given)
        on the ticket's tasks, as schemas/clock.py's DeadlineBook folds a ticket's deadlines for the
        ledger's aggregate and the clock: the same tables (MEETS, ENDS, NEW_ROUND) and the same
        moves. The book keeps a ticket's history in memory; here the state is the rows."""
        if isinstance(e, DeadlineEvent):
            self._clock(e, at)
            return
        match e:
            case s.TicketDispatched():
                lead = e.to_unit or e.org_id
                units = {lead: ("lead", {"sign_for": e.sign_for_by, "first_contact": e.contact_by, "resolve": e.deadline})}
                for support in e.supporting:
                    units[support.unit] = ("supporting", {"sign_for": support.sign_for_by, "supporting": support.deadline})
                self._dispatch(t, at, units)
            case TicketExtensionApproved():  # `unit` is the ledger's: the request's unit, None for the lead
                task = self._resolving(t, e.unit)
                if task is not None and task.pending:
                    self._move(task, _ts(e.until), at)
                    task.extended = 1
            case TicketResumed():
                for moved in e.deadlines:
                    task = self._resolving(t, moved.unit)
                    if task is not None and task.pending and task.due_at != _ts(moved.deadline):
                        self._move(task, _ts(moved.deadline), at)
                        task.paused = 1
            case s.TicketRecategorised() | TicketTransferred():
                for task in self.of(t.ticket_id):  # tasks count where, and under what, the ticket counts
                    task.path, task.category, task.updated_at = t.path, t.category, at
        kind = e.type
        if kind in MEETS:
            unit = getattr(e, "unit", None) or self.holder(t.ticket_id, round_before)
            for stage in MEETS[kind]:
                self._meet(t.ticket_id, round_before, stage, at, unit)
        if kind in ENDS or kind == NEW_ROUND or t.round != round_before:
            self._withdraw(t.ticket_id, at)  # handed back, done, or back to dispatch for a new round

    def _resolving(self, t: TicketState, unit: str | None) -> Task | None:
        """The lead's resolve task (unit None, or the lead), or a supporting unit's task."""
        holder = self.holder(t.ticket_id, t.round)
        if unit is None or unit == holder:
            return self.tasks.get((t.ticket_id, t.round, holder or "", "resolve"))
        return self.tasks.get((t.ticket_id, t.round, unit, "supporting"))

    def holder(self, ticket_id: str, round_: int) -> str | None:
        """The lead unit of the round's latest dispatch (the one whose tasks are owed)."""
        leads = [task for task in self.of(ticket_id) if task.round == round_ and task.role == "lead" and task.withdrawn_at is None]
        return max(leads, key=lambda task: task.dispatched_at).unit if leads else None

    def _move(self, task: Task, due_at: int, at: int) -> None:
        """A new deadline for the task (an extension, a resumption): to the clock a new fact, so the
        breach recorded about the old one no longer makes it late; chases and supervision stay counted."""
        task.due_at, task.due_day, task.breached_at, task.updated_at = due_at, self.clock.day(due_at), None, at

    def _clock(self, e: DeadlineEvent, at: int) -> None:
        """What the clock recorded, on the task it is about (the deadline it names must be the task's:
        the ledger refuses any other, so a mismatch here is an old deadline, replaced since)."""
        task = self.tasks.get((e.ticket_id, e.round, e.unit, e.stage))
        if task is None or task.due_at != _ts(e.deadline):
            return
        match e:
            case DeadlineBreached():
                task.breached_at = task.breached_at if task.breached_at is not None else at
            case TicketChased():
                task.chased += 1
            case TicketSupervised():
                if task.supervised_at is None:
                    task.supervised_at, task.supervised_by = at, e.escalated_to
        task.updated_at = at

    def _dispatch(self, t: TicketState, at: int, units: dict[str, tuple[str, dict[str, datetime | None]]]) -> None:
        """A dispatch replaces what the round's earlier dispatch left owed: tasks it does not give
        again are withdrawn; those it gives again are replaced (new deadlines, owed again: to the
        clock a new deadline is a new fact, and what it recorded about the old one stays in the ledger)."""
        given = {(unit, stage) for unit, (_, due) in units.items() for stage, at_ in due.items() if at_ is not None}
        for task in self.of(t.ticket_id):
            if task.round == t.round and task.pending and (task.unit, task.stage) not in given:
                task.withdrawn_at, task.updated_at = at, at
        for unit, (role, due) in units.items():
            for stage, instant in due.items():
                if instant is None:
                    continue  # no deadline for this stage: no task
                due_at = _ts(instant)
                self._put(Task(t.ticket_id, t.round, unit, stage, role, t.path, t.category, at, due_at, self.clock.day(due_at), updated_at=at))

    def _meet(self, ticket_id: str, round_: int, stage: str, at: int, unit: str | None) -> None:
        task = self.tasks.get((ticket_id, round_, unit or "", stage))
        if task is not None and task.pending:
            task.met_at, task.updated_at = at, at

    def _withdraw(self, ticket_id: str, at: int) -> None:
        for task in self.of(ticket_id):
            if task.pending:
                task.withdrawn_at, task.updated_at = at, at

    def write(self) -> None:
        """The tasks the batch changed: their rows, and their counters' deltas (the stored row's
        contribution taken away, the new one's added) for every unit on their paths."""
        changed = []
        for key, task in self.tasks.items():
            row = task.row()
            before = self.loaded.get(key)
            if row == before:
                continue
            if before is not None:
                self._contribute(Task(*before), -1)
            self._contribute(task, +1)
            changed.append(row)
        if not changed:
            return
        self.db.executemany(SAVE, changed)
        for table, deltas in ((DAILY, self.daily), (MONTHLY, self.monthly)):
            self.db.executemany(table.upsert, table.rows({k: v for k, v in rolled_up(deltas).items() if any(v)}))
        self.db.executemany(UPSERT_OVERDUE, [(*k, *v) for k, v in rolled_up(self.overdue).items() if any(v)])
