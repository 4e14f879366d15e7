"""The dashboard read model: org tree, figures pre-aggregated by (unit, category, day) for every
unit on an item's org path (so a district is one lookup, like a grid), ticket
state, timelines and workload. One projection class, one `match` over event types; each batch's
rows and its ledger position are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from operator import add
from pathlib import Path
from typing import Any

import msgspec

import schemas as s
from projections import deadlines
from projections.facts import (
    DISPUTE_COUNTERS, FLOW_COUNTERS, TICKET_COUNTERS, TOPIC_COUNTERS, Clock, Contributions, TicketState, prefixes, rolled_up,
    rows_of,
)
from projections.layout import MONTH_OF_DAY, CounterTable, bring_up_to_date, month_of, stale
from projections.store import Database, clustered
from schemas import lifecycle
from schemas.deliberation import DeliberationEvent
from schemas.dispute import DisputeEvent
from schemas.families import entity_of
from schemas.ticket import TicketEvent, TicketTransferred

NAME = "dashboard"


def _ddl(dialect: str) -> list[str]:
    text = 'TEXT COLLATE "C"' if dialect == "postgres" else "TEXT"  # byte order: a subtree is one range
    big = "BIGINT" if dialect == "postgres" else "INTEGER"
    counters = lambda names: ", ".join(f"{n} INTEGER NOT NULL DEFAULT 0" for n in names)  # noqa: E731
    by_key = clustered(dialect)
    ticket_cols = ", ".join(
        f"{c} {text} PRIMARY KEY" if c == "ticket_id" else f"{c} {big}" if c.endswith("_at") or c in ("deadline",) else
        f"{c} INTEGER" if c in ("round", "contacted", "reopened", "returned") else f"{c} {text}"
        for c in TicketState.columns()
    )
    return [
        f"CREATE TABLE IF NOT EXISTS tracking (name {text} PRIMARY KEY, position {big} NOT NULL)",
        f"CREATE TABLE IF NOT EXISTS orgs (org_id {text} PRIMARY KEY, kind {text} NOT NULL, name {text} NOT NULL, parent_id {text}, path {text} NOT NULL)",
        "CREATE INDEX IF NOT EXISTS orgs_parent ON orgs (parent_id)",
        f"CREATE TABLE IF NOT EXISTS org_prefixes (org_id {text} NOT NULL, prefix {text} NOT NULL, PRIMARY KEY (org_id, prefix))",
        f"CREATE TABLE IF NOT EXISTS grid_workers (org_id {text} NOT NULL, worker_id {text} NOT NULL, PRIMARY KEY (org_id, worker_id))",
        *(table.ddl(dialect) for table in COUNTER_TABLES),
        f"CREATE TABLE IF NOT EXISTS {FLOW_TOTAL} (prefix {text}, category {text}, {counters(FLOW_COUNTERS)}, first_day {text} NOT NULL, "
        f"last_day {text} NOT NULL, PRIMARY KEY (prefix, category)){by_key}",
        f"CREATE TABLE IF NOT EXISTS tickets ({ticket_cols})",
        *(f"DROP INDEX IF EXISTS {name}" for name in DROPPED_TICKET_INDEXES),
        *(f"CREATE INDEX IF NOT EXISTS {name} ON tickets ({', '.join(columns)})" + (f" WHERE {where}" if where else "")
          for name, (columns, where) in TICKET_INDEXES.items()),
        f"CREATE TABLE IF NOT EXISTS disputes (dispute_id {text} PRIMARY KEY, path {text}, category {text}, risk_grade {text}, registered_at {big}, sessions INTEGER, outcome {text}, summary {text}, updated_at {big})",
        f"CREATE TABLE IF NOT EXISTS topics (topic_id {text} PRIMARY KEY, path {text}, title {text}, proposed_at {big}, stage {text}, decision {text}, votes_for INTEGER, votes_against INTEGER, votes_abstained INTEGER, updated_at {big})",
        f"CREATE TABLE IF NOT EXISTS trail (kind {text} NOT NULL, entity_id {text} NOT NULL, position {big} NOT NULL, type {text} NOT NULL, occurred_at {big} NOT NULL, actor_role {text}, actor_id {text}, detail {text}, PRIMARY KEY (kind, entity_id, position))",
    ]


# -- month roll-ups --------------------------------------------------------------------------
#
# Beside each table of day rows, the same figures per month: a dashboard's window is whole months
# read from the month rows and the days at either end from the day rows, so an answer reads
# about 30 + 2 x 30 rows per group however long the window (open and overdue are stocks summed
# over all history up to the window's end). Written in the same transaction as the day rows, from
# the same batch deltas; tests/unit/test_month_rollups.py checks them against the day rows.

DAY_TABLES = {table.name: table for table in (
    CounterTable("ticket_daily", ("prefix", "category", "day"), TICKET_COUNTERS),
    CounterTable("ticket_flow", ("prefix", "category", "day"), FLOW_COUNTERS),
    CounterTable("ticket_hist", ("prefix", "category", "day", "metric", "bucket"), ("n",)),
    CounterTable("dispute_daily", ("prefix", "category", "risk_grade", "day"), DISPUTE_COUNTERS),
    CounterTable("topic_daily", ("prefix", "day"), TOPIC_COUNTERS),
)}
"""The day tables (projections/layout.py: stored month-major), by name."""
MONTHLY = {"ticket_daily": "ticket_monthly", "ticket_flow": "ticket_flow_monthly", "ticket_hist": "ticket_hist_monthly",
           "dispute_daily": "dispute_monthly", "topic_daily": "topic_monthly"}
"""Day table -> its month twin: the same key with `month` (YYYY-MM) for `day` (YYYY-MM-DD)."""
MONTH_TABLES = {day_table: CounterTable(month_table, tuple("month" if k == "day" else k for k in DAY_TABLES[day_table].keys),
                                        DAY_TABLES[day_table].counters)
                for day_table, month_table in MONTHLY.items()}
"""Day table -> its month twin's table."""
COUNTER_TABLES = [*DAY_TABLES.values(), *MONTH_TABLES.values()]


# -- running totals of the flows ------------------------------------------------------------
#
# Open and overdue are stocks: every flow of the group from the beginning of history up to the
# window's end. Summed from the month rows they cost one row per month of history (54 at 4.5
# years, for the district and again for each of its towns), so the answer grew with history.
# Beside the flows, one row per (prefix, category) holds the sum of all its day rows, written in
# the same transaction from the same rows; a stock as of day `hi` is then that total less the
# rows after `hi`. For a window that ends now, those are only the deadlines still to come (the
# overdue flow lands on a deadline's day), so the answer reads the same few rows at any length
# of history. Year roll-ups were the other way, at the same write cost (one more upsert per
# (prefix, category) a batch touches): a stock would still read the years before and up to 11
# month rows, a cost that grows with the years and jumps with the month of the year; the totals
# are one row per prefix and category however long the history, a table that stays in the page
# cache. A window that ends long ago is read from whichever end of the group's rows is nearer
# (first_day, last_day: the days its day rows span), so no answer reads more rows than it did
# with the month rows alone (projections/queries.py `_stocks`).

FLOW_TOTAL = "ticket_flow_total"
"""(prefix, category) -> opened, overdue summed over every ticket_flow row; first_day, last_day:
the first and last day of those rows (which may lie ahead: a deadline to come)."""


def _has_table(db: Database, table: str) -> bool:
    if db.dialect == "postgres":
        return bool(db.query("SELECT to_regclass(?) IS NOT NULL", (table,))[0][0])
    return bool(db.query("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)))


LAID_OUT = [*COUNTER_TABLES, *deadlines.COUNTER_TABLES]
"""The tables stored in projections/layout.py's layout (month-major keys)."""


def upgrading(db: Database) -> list[str]:
    """The tables of this read model still stored in an older layout (the projector rewrites them
    at its start: create_schema); the web answers 503 meanwhile (projections/readside.py)."""
    return [t.name for t in stale(db, LAID_OUT)]


def create_schema(db: Database) -> None:
    with db.transaction():
        # A read model from before the month roll-ups (or the flows' totals) gets them from its day rows, once.
        upgrade = _has_table(db, "ticket_daily") and not _has_table(db, MONTHLY["ticket_daily"])
        upgrade_totals = _has_table(db, "ticket_flow") and not _has_table(db, FLOW_TOTAL)
        for statement in _ddl(db.dialect) + deadlines.ddl(db.dialect):
            db.execute(statement)
        # The deadline tasks are the one deadline read model; a read model from before kept a
        # second one (ticket_clocks) that disagreed with them on what a re-dispatch ends.
        db.execute("DROP TABLE IF EXISTS ticket_clocks")
        # A read model from before month-major keys gets them (projections/layout.py), table by table.
        bring_up_to_date(db, LAID_OUT)
        if upgrade:
            for day_table, month_table in MONTH_TABLES.items():
                keys = ", ".join(MONTH_OF_DAY if k == "day" else k for k in DAY_TABLES[day_table].keys)
                sums = ", ".join(f"SUM({c})" for c in month_table.counters)
                db.execute(f"INSERT INTO {month_table.name} ({', '.join((*month_table.keys, *month_table.counters))}) "
                           f"SELECT {keys}, {sums} FROM {day_table} GROUP BY {keys}")
        if upgrade_totals:
            sums = ", ".join(f"SUM({c})" for c in FLOW_COUNTERS)
            db.execute(f"INSERT INTO {FLOW_TOTAL} SELECT prefix, category, {sums}, MIN(day), MAX(day) FROM ticket_flow GROUP BY prefix, category")


def upsert_flow_total(source: str | None = None) -> str:
    """Counters added; the span of days widened (CASE rather than SQLite's min()/PostgreSQL's LEAST():
    one statement for both). `source`: as facts.upsert's."""
    columns = ("prefix", "category", *FLOW_COUNTERS, "first_day", "last_day")
    return (f"INSERT INTO {FLOW_TOTAL} ({', '.join(columns)}) {rows_of(source, FLOW_TOTAL, columns)} "
            "ON CONFLICT (prefix, category) DO UPDATE SET "
            + ", ".join(f"{c} = {FLOW_TOTAL}.{c} + excluded.{c}" for c in FLOW_COUNTERS)
            + f", first_day = CASE WHEN excluded.first_day < {FLOW_TOTAL}.first_day THEN excluded.first_day ELSE {FLOW_TOTAL}.first_day END"
            + f", last_day = CASE WHEN excluded.last_day > {FLOW_TOTAL}.last_day THEN excluded.last_day ELSE {FLOW_TOTAL}.last_day END")


UPSERT_FLOW_TOTAL = upsert_flow_total()


def _save(table: str, columns: tuple[str, ...]) -> str:
    return (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({columns[0]}) DO UPDATE SET " + ", ".join(f"{c}=excluded.{c}" for c in columns[1:]))


def stage_in(stages: tuple[str, ...]) -> str:
    """A SQL condition on the tickets table's stage; stage names are plain words, safe to quote."""
    return "stage IN (" + ", ".join(f"'{stage}'" for stage in stages) + ")"


OPEN_TICKET = stage_in(lifecycle.OPEN)
"""The tickets still open (lifecycle.OPEN), in SQL: the ticket lists' `open` filter and the open
tickets' indexes' condition, the same text, which is what lets SQLite use those partial indexes."""

# -- the tickets' indexes ---------------------------------------------------------------------
#
# The ticket lists read a subtree's tickets by path (tickets_path, all of history). What is read of
# the open tickets alone (the lists' `open` and `overdue`, the workload by subtree, by receiving
# unit and by grid worker) is read from partial indexes holding only the open tickets. Over every
# ticket (tickets_unit, tickets_worker, dropped), each dispatch and acceptance of a batch wrote
# into a unit's or a worker's page of its own once the history was long: about 350 of the 2,570
# pages a live batch of 1,000 wrote at 1M events, where the open tickets' three indexes write
# about 60. The open tickets' path index also spares those reads every closed ticket of the
# subtree: at 1M events the district's open list 505 -> 34 ms, its workload 1.4 -> 0.43 s
# (docs/bench/2026-11-29/foldgrowth/README.md).
TICKET_INDEXES: dict[str, tuple[tuple[str, ...], str | None]] = {
    "tickets_path": (("path", "raised_at"), None),
    "tickets_open_path": (("path", "raised_at"), OPEN_TICKET),
    "tickets_open_unit": (("to_unit", "raised_at"), OPEN_TICKET),
    "tickets_open_worker": (("to_worker", "raised_at"), OPEN_TICKET),
}
"""name -> (columns, the partial index's condition or None)."""
DROPPED_TICKET_INDEXES = ("tickets_unit", "tickets_worker")
"""Indexes of older read models, dropped when the projector opens one (create_schema)."""
TICKET_COLUMNS = TicketState.columns()
SAVE_TICKET = _save("tickets", TICKET_COLUMNS)
DISPUTE_COLUMNS = ("dispute_id", "path", "category", "risk_grade", "registered_at", "sessions", "outcome", "summary", "updated_at")
TOPIC_COLUMNS = ("topic_id", "path", "title", "proposed_at", "stage", "decision", "votes_for", "votes_against", "votes_abstained", "updated_at")


def _ts(e: s.Event) -> int:
    return int(e.occurred_at.timestamp())


def _detail(e: s.Event) -> str:
    """The event as stored, less its sealed personal data (readers drop the envelope: schemas.families.ENVELOPE)."""
    return s.encode(msgspec.structs.replace(e, sealed=()) if e.sealed else e).decode()


class DashboardProjection:
    """Folds ledger events into the dashboard tables. Memory stays flat: state lives in the store,
    a batch loads only the entities it touches."""

    def __init__(self, db: Database, clock: Clock | None = None):
        self.db = db
        self.clock = clock or Clock()

    def position(self) -> int:
        rows = self.db.query("SELECT position FROM tracking WHERE name=?", (NAME,))
        return rows[0][0] if rows else 0

    def apply(self, batch: list[tuple[int, s.Event]]) -> int:
        """Apply events at these ledger positions (skipping any at or below the stored position),
        with the new position, in one transaction. Returns how many were applied."""
        with self.db.transaction():
            done = self.position()
            todo = [(p, e) for p, e in batch if p > done]
            if not todo:
                return 0
            _Fold(self, todo).run()
            self._stand_at(todo[-1][0])
        return len(todo)

    def add_share(self, share: Path, position: int) -> None:
        """Add a share of a rebuild (projections/rebuild.py: the ledger up to `position`, its items
        split between shares by aggregate, folded into a SQLite file of its own) into this read
        model, which folded another share, and stand at `position`, in one transaction. Every table
        of counters is added to (each share counted other items); every other row is copied, a row
        already here kept: an item's rows are in its own share alone, and the org tree's, which
        every share folds, are the same in each."""
        if self.db.dialect != "sqlite":
            raise ValueError("a rebuild's shares are SQLite files")
        added = _added("share")
        self.db.execute("ATTACH DATABASE ? AS share", (str(share),))
        try:
            with self.db.transaction():
                for (table,) in self.db.query("SELECT name FROM share.sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite%'"):
                    if table != "tracking":
                        self.db.execute(added.get(table) or f"INSERT INTO main.{table} SELECT * FROM share.{table} WHERE true ON CONFLICT DO NOTHING")
                self._stand_at(position)
        finally:
            self.db.execute("DETACH DATABASE share")

    def _stand_at(self, position: int) -> None:
        self.db.execute("INSERT INTO tracking VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position=excluded.position", (NAME, position))


def _added(source: str) -> dict[str, str]:
    """Each table of counters -> the SQL adding the rows of the same table in the schema `source` to it."""
    return {**{t.name: t.added_from(source) for t in COUNTER_TABLES}, FLOW_TOTAL: upsert_flow_total(source),
            **deadlines.added_from(source)}


class _Fold:
    """One batch: load touched entities, replay the events on them, write the deltas."""

    def __init__(self, projection: DashboardProjection, events: list[tuple[int, s.Event]]):
        self.db, self.clock, self.events = projection.db, projection.clock, events
        self.tickets = self._load_tickets({e.ticket_id for _, e in events if isinstance(e, TicketEvent)})
        self.deadlines = deadlines.DeadlineFold(self.db, self.clock, self.tickets)
        self.disputes = self._load("disputes", DISPUTE_COLUMNS, {e.dispute_id for _, e in events if isinstance(e, DisputeEvent)})
        self.topics = self._load("topics", TOPIC_COLUMNS, {e.topic_id for _, e in events if isinstance(e, DeliberationEvent)})
        self.delta = Contributions()
        for t in self.tickets.values():
            self.delta.ticket(t, self.clock, -1)
        for d in self.disputes.values():
            self.delta.dispute(d, self.clock, -1)
        for topic in self.topics.values():
            self.delta.topic(topic, self.clock, -1)
        self.trail: list[tuple] = []

    def _load_tickets(self, ids: set[str]) -> dict[str, TicketState]:
        return {row[0]: TicketState(*row) for row in self._select("tickets", TICKET_COLUMNS, ids)}

    def _load(self, table: str, columns: tuple[str, ...], ids: set[str]) -> dict[str, dict[str, Any]]:
        return {row[0]: dict(zip(columns, row)) for row in self._select(table, columns, ids)}

    def _select(self, table: str, columns: tuple[str, ...], ids: set[str]) -> Iterable[tuple]:
        ids_list = sorted(ids)
        for i in range(0, len(ids_list), 500):
            chunk = ids_list[i:i + 500]
            yield from self.db.query(f"SELECT {', '.join(columns)} FROM {table} WHERE {columns[0]} IN ({', '.join('?' * len(chunk))})", chunk)

    def run(self) -> None:
        for position, event in self.events:
            self.apply(position, event)
        for t in self.tickets.values():
            self.delta.ticket(t, self.clock, +1)
        for d in self.disputes.values():
            self.delta.dispute(d, self.clock, +1)
        for topic in self.topics.values():
            self.delta.topic(topic, self.clock, +1)

        self.write()

    def apply(self, position: int, e: s.Event) -> None:
        at, path = _ts(e), ".".join(e.org_path) + "."
        match e:
            case s.OrgUnitRegistered():
                self.db.execute("INSERT INTO orgs VALUES (?, ?, ?, ?, ?) ON CONFLICT (org_id) DO NOTHING", (e.org_id, e.kind, e.name, e.parent_id, path))
                self.db.execute("INSERT INTO org_prefixes VALUES (?, ?) ON CONFLICT DO NOTHING", (e.org_id, path))
            case s.OrgUnitRenamed():
                self.db.execute("UPDATE orgs SET name=? WHERE org_id=?", (e.name, e.org_id))
            case s.OrgUnitMoved():
                self._move(e)
            case s.GridWorkerAssigned():
                self.db.execute("INSERT INTO grid_workers VALUES (?, ?) ON CONFLICT DO NOTHING", (e.org_id, e.worker_id))
            case s.TicketRaised():
                self.tickets[e.ticket_id] = TicketState(e.ticket_id, path, e.org_id, e.category, e.title, e.channel, at, updated_at=at)
            case TicketEvent():
                ticket = self.tickets[e.ticket_id]
                round_before = ticket.round
                self._ticket(ticket, e, at)
                self.deadlines.apply(ticket, e, at, round_before)
            case s.DisputeRegistered():
                self.disputes[e.dispute_id] = dict(dispute_id=e.dispute_id, path=path, category=e.category, risk_grade=e.risk_grade,
                                                   registered_at=at, sessions=0, outcome=None, summary=e.summary, updated_at=at)
            case s.MediationSessionHeld():
                self.disputes[e.dispute_id].update(sessions=self.disputes[e.dispute_id]["sessions"] + 1, updated_at=at)
            case s.DisputeConcluded():
                self.disputes[e.dispute_id].update(outcome=e.outcome, updated_at=at)
            case s.TopicProposed():
                self.topics[e.topic_id] = dict(topic_id=e.topic_id, path=path, title=e.title, proposed_at=at, stage="proposed",
                                               decision=None, votes_for=None, votes_against=None, votes_abstained=None, updated_at=at)
            case s.MeetingHeld():
                topic = self.topics[e.topic_id]
                topic.update(stage="discussed" if topic["stage"] == "proposed" else topic["stage"], updated_at=at)
            case s.TopicDecided():
                votes = e.votes
                self.topics[e.topic_id].update(stage="decided", decision=e.decision, updated_at=at,
                                               votes_for=votes and votes.in_favour, votes_against=votes and votes.against,
                                               votes_abstained=votes and votes.abstained)
            case s.TopicImplemented():
                self.topics[e.topic_id].update(stage="implemented", updated_at=at)
        kind, entity = entity_of(e)
        self.trail.append((kind, entity, position, e.type, at, e.actor.role, e.actor.id, _detail(e)))

    def _ticket(self, t: TicketState, e: s.Event, at: int) -> None:
        """The facts the figures need; the stage and the round move as the lifecycle table says."""
        t.updated_at = at
        match e:
            case s.TicketDispatched():
                # The ledger fills a deadline the producer left out, so a stored dispatch always has one.
                t.deadline = int(e.deadline.timestamp()) if e.deadline is not None else None
                t.to_unit, t.to_worker = e.to_unit, e.to_worker
                t.first_dispatched_at = t.first_dispatched_at or at
            case s.TicketAccepted():
                t.first_accepted_at = t.first_accepted_at or at
            case s.TicketReturned():
                t.returned += 1
            case s.TicketResolved():
                t.resolved_at = at
                t.first_resolved_at = t.first_resolved_at or at
            case s.TicketRated():
                t.satisfaction, t.contacted = e.satisfaction, int(e.contacted)
            case s.TicketClosed():
                t.closed_at = at
            case s.TicketVoided():
                t.voided_at, t.duplicate_of = at, e.duplicate_of
            case s.TicketRecategorised():
                t.category = e.category
            case s.TicketExtensionApproved() if e.unit is None:  # the deadline here is the lead's; tasks have their own
                t.deadline = int(e.until.timestamp())
            case s.TicketResumed():
                t.deadline = next((int(d.deadline.timestamp()) for d in e.deadlines if d.unit is None), t.deadline)
            case TicketTransferred():  # every figure moves with it: the batch adds it back at the new path
                t.org_id, t.path = e.to_org_id, self.db.query("SELECT path FROM orgs WHERE org_id=?", (e.to_org_id,))[0][0]
        stage, new_round = lifecycle.move(e.type, e.__getattribute__)
        if stage is not None:
            t.stage = stage
        if new_round:  # back to dispatch: counted as reopened, no longer resolved in this round
            t.round, t.reopened, t.resolved_at = t.round + 1, t.reopened + 1, None

    def _move(self, e: s.OrgUnitMoved) -> None:
        """The unit's subtree gets new paths from now on; figures already counted stay where they were."""
        old = self.db.query("SELECT path FROM orgs WHERE org_id=?", (e.org_id,))[0][0]
        parent = self.db.query("SELECT path FROM orgs WHERE org_id=?", (e.new_parent_id,))[0][0]
        new = f"{parent}{e.org_id}."
        lo, hi = old, old[:-1] + "/"
        moved = self.db.query("SELECT org_id, path FROM orgs WHERE path >= ? AND path < ?", (lo, hi))
        self.db.executemany("UPDATE orgs SET path=? WHERE org_id=?", [(new + p[len(old):], o) for o, p in moved])
        self.db.executemany("INSERT INTO org_prefixes VALUES (?, ?) ON CONFLICT DO NOTHING", [(o, new + p[len(old):]) for o, p in moved])
        self.db.execute("UPDATE orgs SET parent_id=? WHERE org_id=?", (e.new_parent_id, e.org_id))

    def write(self) -> None:
        db, d = self.db, self.delta
        for table, deltas in (("ticket_daily", d.tickets), ("ticket_flow", d.flows), ("ticket_hist", {k: [n] for k, n in d.hist.items()}),
                              ("dispute_daily", d.disputes), ("topic_daily", d.topics)):
            rows = {k: v for k, v in rolled_up(deltas).items() if any(v)}
            day_table, month_table = DAY_TABLES[table], MONTH_TABLES[table]
            db.executemany(day_table.upsert, day_table.rows(rows))
            # Every month that got a day row gets its row, even where the month's sum is nought:
            # a month row exists exactly when a day row of that month does, as a query over days would see.
            db.executemany(month_table.upsert, month_table.rows(by_month(rows, day_table.keys.index("day"))))
            if table == "ticket_flow":
                db.executemany(UPSERT_FLOW_TOTAL, [(*k, *v) for k, v in flow_totals(rows).items()])
        db.executemany(SAVE_TICKET, [t.row() for t in self.tickets.values()])
        db.executemany(_save("disputes", DISPUTE_COLUMNS), [tuple(x[c] for c in DISPUTE_COLUMNS) for x in self.disputes.values()])
        db.executemany(_save("topics", TOPIC_COLUMNS), [tuple(x[c] for c in TOPIC_COLUMNS) for x in self.topics.values()])
        db.executemany("INSERT INTO trail VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", self.trail)
        self.deadlines.write()


def by_month(rows: dict[tuple, list[int]], day_at: int) -> dict[tuple, list[int]]:
    """Day rows' deltas -> the same deltas per month (the key's day cut to YYYY-MM)."""
    out: dict[tuple, list[int]] = {}
    for key, values in rows.items():
        month_key = (*key[:day_at], month_of(key[day_at]), *key[day_at + 1:])
        row = out.get(month_key)
        out[month_key] = list(values) if row is None else list(map(add, row, values))
    return out


def flow_totals(rows: dict[tuple, list[int]]) -> dict[tuple, list]:
    """Flow rows' deltas keyed (prefix, category, day) -> per (prefix, category): the deltas summed,
    and the first and last day among them."""
    out: dict[tuple, list] = {}
    for (prefix, category, day), values in rows.items():
        total = out.get((prefix, category))
        if total is None:
            out[(prefix, category)] = [*values, day, day]
        else:
            for i, n in enumerate(values):
                total[i] += n
            total[-2], total[-1] = min(total[-2], day), max(total[-1], day)
    return out
