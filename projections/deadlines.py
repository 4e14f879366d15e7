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

import schemas as s
from projections.facts import Clock, TicketState
from projections.store import Database
from schemas.ticket import TicketTransferred

STAGES = ("sign_for", "first_contact", "resolve")
"""接单, 首次联系, 办结 (docs/kpis.md#deadline-tasks)."""
ROLES = ("lead", "supporting")
"""主办, 协办: counted apart everywhere."""


@dataclass
class Task:
    """One row of deadline_tasks."""

    ticket_id: str
    round: int
    unit: str
    """The org unit holding the task, or the grid worker's pseudonymous id (`unit_kind` says which)."""
    stage: str
    role: str
    unit_kind: str
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
    updated_at: int = 0

    @property
    def key(self) -> tuple[str, int, str, str]:
        return self.ticket_id, self.round, self.unit, self.stage

    @property
    def pending(self) -> bool:
        """Neither met nor withdrawn: the unit still owes it."""
        return self.met_at is None and self.withdrawn_at is None

    def row(self) -> tuple:
        return tuple(getattr(self, c) for c in COLUMNS)


COLUMNS = tuple(f.name for f in fields(Task))
_INTEGERS = {"round", "chased"}


def ddl(dialect: str) -> list[str]:
    text = 'TEXT COLLATE "C"' if dialect == "postgres" else "TEXT"
    big = "BIGINT" if dialect == "postgres" else "INTEGER"
    cols = ", ".join(f"{c} {big}" if c.endswith("_at") else f"{c} INTEGER NOT NULL" if c in _INTEGERS else f"{c} {text}"
                     for c in COLUMNS)
    return [
        f"CREATE TABLE IF NOT EXISTS deadline_tasks ({cols}, PRIMARY KEY (ticket_id, round, unit, stage))",
        "CREATE INDEX IF NOT EXISTS deadline_tasks_due ON deadline_tasks (path, due_at)",
        # Overdue now and the 督办 list read only the tasks still owed: a small partial index.
        "CREATE INDEX IF NOT EXISTS deadline_tasks_owed ON deadline_tasks (path, due_at) WHERE met_at IS NULL AND withdrawn_at IS NULL",
    ]


SAVE = (f"INSERT INTO deadline_tasks ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
        f"ON CONFLICT (ticket_id, round, unit, stage) DO UPDATE SET "
        + ", ".join(f"{c}=excluded.{c}" for c in COLUMNS if c not in ("ticket_id", "round", "unit", "stage")))


def _ts(instant: object) -> int:
    return int(instant.timestamp())  # type: ignore[attr-defined]


class DeadlineFold:
    """The deadline tasks of the tickets one batch touches: loaded once, changed in memory,
    written back with the batch."""

    def __init__(self, db: Database, clock: Clock, ticket_ids: Iterable[str]):
        self.db, self.clock = db, clock
        self.tasks: dict[tuple[str, int, str, str], Task] = {}
        ids = sorted(set(ticket_ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            for row in db.query(f"SELECT {', '.join(COLUMNS)} FROM deadline_tasks WHERE ticket_id IN ({', '.join('?' * len(chunk))})", chunk):
                task = Task(*row)
                self.tasks[task.key] = task

    def of(self, ticket_id: str) -> list[Task]:
        return [t for t in self.tasks.values() if t.ticket_id == ticket_id]

    def apply(self, t: TicketState, e: s.Event, at: int) -> None:
        """Event e (already folded into the ticket's state t) on the ticket's tasks."""
        match e:
            case s.TicketDispatched():
                receiver, kind = (e.to_unit, "unit") if e.to_unit else (e.to_worker, "grid_worker")
                if receiver is None:
                    return
                self._dispatch(t, at, receiver, kind, "lead", {"resolve": _ts(e.deadline)})
            case s.TicketAccepted():
                self._meet(t, "sign_for", at)
            case s.TicketResolved():
                self._meet(t, "resolve", at, role="lead")
                self._withdraw(t, at)  # the ticket is resolved: what other units still owe lapses
            case s.TicketReturned() | s.TicketClosed() | s.TicketVoided() | s.TicketReopened():
                self._withdraw(t, at)
            case s.TicketRated() if e.satisfaction == "dissatisfied":
                self._withdraw(t, at)  # reopens: the next dispatch starts a new clock
            case s.TicketRecategorised() | TicketTransferred():
                for task in self.of(t.ticket_id):  # tasks count where, and under what, the ticket counts
                    task.path, task.category, task.updated_at = t.path, t.category, at

    def _dispatch(self, t: TicketState, at: int, unit: str, kind: str, role: str, due: dict[str, int]) -> None:
        for task in self.of(t.ticket_id):
            if task.round == t.round and task.unit != unit and task.pending and role == "lead" and task.role == "lead":
                task.withdrawn_at, task.updated_at = at, at  # handed to another lead unit
        for stage, due_at in due.items():
            old = self.tasks.get((t.ticket_id, t.round, unit, stage))
            task = Task(t.ticket_id, t.round, unit, stage, role, kind, t.path, t.category, at, due_at, self.clock.day(due_at),
                        updated_at=at)
            if old is not None:  # the same unit again in this round: new deadlines, owed again; what was recorded stays
                task.breached_at, task.chased = old.breached_at, old.chased
                task.supervised_at, task.supervised_by = old.supervised_at, old.supervised_by
            self.tasks[task.key] = task

    def _meet(self, t: TicketState, stage: str, at: int, role: str | None = None, unit: str | None = None) -> None:
        for task in self.of(t.ticket_id):
            if (task.round == t.round and task.stage == stage and task.pending
                    and (role is None or task.role == role) and (unit is None or task.unit == unit)):
                task.met_at, task.updated_at = at, at

    def _withdraw(self, t: TicketState, at: int) -> None:
        for task in self.of(t.ticket_id):
            if task.pending:
                task.withdrawn_at, task.updated_at = at, at

    def write(self) -> None:
        if self.tasks:
            self.db.executemany(SAVE, [task.row() for task in self.tasks.values()])
