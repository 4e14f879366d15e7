"""The read model's tables on SQLite: the counter tables and the deadline tasks are clustered on
their keys (WITHOUT ROWID, projections/store.py clustered), and a read model created before, with
rowid tables, folds the same events to the same rows and figures; the per-unit counter tables are
keyed month first (projections/layout.py), a read model keyed unit first is rewritten so when opened,
and the district's reads of them seek by (month, prefix)."""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from fold_kit import T0, Events, deadline_figures, everything, figures, flow_totals, month_figures, open_projection
from projections import deadlines
from projections.dashboard import COUNTER_TABLES, FLOW_TOTAL, MONTHLY, OPEN_TICKET, DashboardProjection, _ddl, create_schema
from projections.deadline_queries import DeadlineQueries
from projections.facts import Clock
from projections.store import primary_key
from projections.queries import DashboardQueries, TicketQueries
from projections.store import Database, SQLiteDatabase, clustered
from tests.unit.test_month_rollups import _spread_district as spread_district, fold_spread_district

CLUSTERED = {*MONTHLY, *MONTHLY.values(), FLOW_TOTAL, "deadline_tasks", "deadline_daily", "deadline_unit_monthly", "deadline_overdue"}


def test_the_counter_tables_and_the_tasks_are_clustered_on_their_keys(tmp_path: Path) -> None:
    db = open_projection(tmp_path).db
    ddl = dict(db.query("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
    assert CLUSTERED <= set(ddl)
    assert {name for name, sql in ddl.items() if sql.endswith("WITHOUT ROWID")} == CLUSTERED


def test_a_read_model_with_rowid_tables_folds_to_the_same_rows(tmp_path: Path, district_ledger: Any) -> None:
    old = SQLiteDatabase(tmp_path / "before.sqlite")
    for statement in _ddl("sqlite") + deadlines.ddl("sqlite"):  # as created before the tables were clustered
        old.execute(statement.removesuffix(" WITHOUT ROWID"))
    create_schema(old)
    assert not old.query("SELECT name FROM sqlite_master WHERE sql LIKE '%WITHOUT ROWID'")
    new = open_projection(tmp_path)
    events = list(enumerate(district_ledger, 1))
    for i in range(0, len(events), 97):
        DashboardProjection(old, Clock()).apply(events[i:i + 97])
        new.apply(events[i:i + 97])
    assert everything(old) == everything(new.db)


# -- month-major keys (projections/layout.py) --------------------------------------------------


def unit_first(db: Database) -> None:
    """Turn the counter tables back into the layout before month-major keys: keyed unit (prefix)
    first, then the day or month, then the rest; no month column beside a day."""
    text = 'TEXT COLLATE "C"' if db.dialect == "postgres" else "TEXT"
    with db.transaction():
        for table in [*COUNTER_TABLES, *deadlines.COUNTER_TABLES]:
            period = "day" if table.by_day else "month"
            key = ("prefix", period, *(k for k in table.keys if k not in ("prefix", period)))
            columns = ", ".join(f"{k} INTEGER" if k == "bucket" else f"{k} {text}" for k in table.keys)
            counters = ", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in table.counters)
            names = ", ".join((*table.keys, *table.counters))
            db.execute(f"CREATE TABLE {table.name}_before ({columns}, {counters}, PRIMARY KEY ({', '.join(key)})){clustered(db.dialect)}")
            db.execute(f"INSERT INTO {table.name}_before ({names}) SELECT {names} FROM {table.name}")
            db.execute(f"DROP TABLE {table.name}")
            db.execute(f"ALTER TABLE {table.name}_before RENAME TO {table.name}")
            assert primary_key(db, table.name) == key


def answers(db: Database) -> list[Any]:
    """Every kind of answer read from the counter tables, for windows of whole months, part-months and all of history."""
    reads, boards = DashboardQueries(db, Clock()), DeadlineQueries(db, Clock())
    windows = [(None, date(2026, 12, 31)), (date(2026, 3, 1), date(2026, 3, 31)), (date(2026, 2, 20), date(2026, 4, 10)),
               (date(2026, 3, 5), date(2026, 3, 20)), (None, date(2026, 3, 15)), (date(2026, 4, 1), date(2026, 6, 30))]
    out: list[Any] = []
    for org in ("d1", "t1", "c1", "g1"):
        for start, end in windows:
            out += [reads.dashboard(org, start, end), boards.board(org, start, end)]
        out += [boards.ranking(org, month) for month in ("2026-03", "2026-04")]
    return [msgspec.json.encode(a) for a in out]


def assert_an_old_layout_is_rewritten(db: Database, caplog: pytest.LogCaptureFixture) -> None:
    """A read model folded, its answers and rows noted, its counter tables turned back into the old
    layout, then opened again: every table is rewritten month-major, with a log line each, and
    answers, rows and the fold from there on are as they were."""
    fold_spread_district(db)
    want, rows = answers(db), (figures(db), month_figures(db), deadline_figures(db), flow_totals(db))
    assert sum(rows[0].values()) and sum(rows[2].values())
    unit_first(db)
    with caplog.at_level(logging.INFO, logger="projections.layout"):
        create_schema(db)
    tables = [*COUNTER_TABLES, *deadlines.COUNTER_TABLES]
    assert len([r for r in caplog.records if r.getMessage().startswith("rewriting ")]) == len(tables)
    assert all(primary_key(db, t.name) == t.primary_key and t.primary_key[:2] == ("month", "prefix") for t in tables)
    assert answers(db) == want
    assert (figures(db), month_figures(db), deadline_figures(db), flow_totals(db)) == rows
    assert all(month == day[:7] for day, month in db.query("SELECT day, month FROM ticket_daily"))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="projections.layout"):
        create_schema(db)  # once only
    assert not caplog.records
    later = Events()
    later.add("TicketRaised", T0 + timedelta(days=3), org="c1", ticket_id="T-later", category="parking")
    projection = DashboardProjection(db, Clock())
    assert projection.apply([(projection.position() + 1, later.events[0])]) == 1
    day = (T0 + timedelta(days=3)).date().isoformat()
    added = figures(db) - rows[0]
    assert added and all(key[0] in ("ticket_daily", "ticket_flow") and key[3] == day and n == 1 for key, n in added.items()), added


def test_a_read_model_keyed_unit_first_is_rewritten_month_first(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert_an_old_layout_is_rewritten(SQLiteDatabase(tmp_path / "dashboard.sqlite"), caplog)


class Recording:
    """A database that notes every read it is asked."""

    def __init__(self, db: Database):
        self.db, self.dialect, self.reads = db, db.dialect, []

    def query(self, sql: str, params: Any = ()) -> list[tuple]:
        self.reads.append((sql, list(params)))
        return self.db.query(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


@pytest.mark.parametrize("window", [(date(2026, 2, 10), date(2026, 3, 11)), (date(2026, 1, 15), date(2026, 4, 20)), (None, date(2026, 4, 20))])
def test_the_district_dashboard_seeks_its_rows_by_month_and_unit(tmp_path: Path, window: tuple[date | None, date]) -> None:
    """Every read of a counter table the district's dashboard and deadline board make is a search of
    the month-major key by (month, prefix), never a scan (EXPLAIN QUERY PLAN)."""
    db = open_projection(tmp_path).db
    fold_spread_district(db)
    recording = Recording(db)
    DashboardQueries(recording, Clock()).dashboard("d1", *window)  # type: ignore[arg-type]
    DeadlineQueries(recording, Clock()).board("d1", *window)  # type: ignore[arg-type]
    names = {t.name for t in [*COUNTER_TABLES, *deadlines.COUNTER_TABLES]}
    read = grouped_by_unit = 0
    for sql, params in recording.reads:
        table = re.search(r"FROM (\w+) WHERE", sql)
        if table is None or table[1] not in names:
            continue
        read += 1
        plan = " | ".join(r[-1] for r in db.query(f"EXPLAIN QUERY PLAN {sql}", params))
        assert f"SEARCH {table[1]} USING PRIMARY KEY (month=? AND prefix=?" in plan, (sql, plan)
        assert "SCAN" not in plan.replace("USE TEMP B-TREE", ""), (sql, plan)
        if "GROUP BY month, prefix" in sql:  # the children's figures: in the key's order, no sort
            grouped_by_unit += 1
            assert "TEMP B-TREE" not in plan, (sql, plan)
    assert read >= 7 and grouped_by_unit >= 2, recording.reads  # the dashboard's tables, its children's, the deadline board's


def test_windows_of_centuries_read_only_the_months_held(tmp_path: Path) -> None:
    """A window far from the history, or reaching over centuries, names no month it does not hold
    (projections/_scope.py months_of): answers as a window of the same history from the beginning."""
    db = open_projection(tmp_path).db
    fold_spread_district(db)
    reads, boards = DashboardQueries(db, Clock()), DeadlineQueries(db, Clock())
    empty = boards.board("g1", date(45, 9, 22), date(83, 7, 8))  # the contract test's fuzzed window
    assert not empty.units and not empty.by_month and all(r.total.due == 0 for r in empty.roles)
    assert reads.dashboard("d1", date(45, 9, 22), date(83, 7, 8)).tickets.raised == 0
    for org in ("d1", "g1"):
        wide, whole = reads.dashboard(org, date(45, 1, 1), date(2026, 12, 31)), reads.dashboard(org, None, date(2026, 12, 31))
        assert wide.tickets.raised > 0 and msgspec.structs.replace(wide, window_from="") == whole
        wide_board, whole_board = boards.board(org, date(45, 1, 1), date(2026, 12, 31)), boards.board(org, None, date(2026, 12, 31))
        assert wide_board.roles[0].total.due > 0 and msgspec.structs.replace(wide_board, window_from="") == whole_board


# -- the open tickets' indexes (projections/dashboard.py TICKET_INDEXES) ------------------------

NOW = Clock().start_of(date(2026, 12, 31))


def test_the_workload_and_the_open_lists_read_the_open_tickets_alone(tmp_path: Path, district_ledger: Any) -> None:
    """The workload and the open and overdue lists read the partial indexes of the open tickets, whose
    condition is the lists' `open` filter word for word (SQLite uses a partial index only for a
    query whose WHERE holds its condition): by subtree, by receiving unit, by grid worker. Those
    indexes hold no closed ticket."""
    projection = open_projection(tmp_path)
    projection.apply(list(enumerate(district_ledger, 1)))
    db = projection.db
    district = db.query("SELECT org_id FROM orgs WHERE kind = 'district'")[0][0]
    recording, prefixes = Recording(db), DashboardQueries(db, Clock()).prefixes(district)
    reads = TicketQueries(recording, Clock())
    load = reads.workload(prefixes, NOW)
    assert {w.kind for w in load} == {"unit", "grid_worker"}
    assert reads.tickets(prefixes, "open", None, 1, 20, NOW).total > 0
    reads.tickets(prefixes, "overdue", None, 1, 20, NOW)
    receivers = [(sql, params) for sql, params in recording.reads if "_unit = ?" in sql or "_worker = ?" in sql]
    assert len(receivers) == len(load)
    for sql, params in recording.reads:
        plan = " | ".join(r[-1] for r in db.query(f"EXPLAIN QUERY PLAN {sql}", params))
        if (sql, params) in receivers:
            assert re.search(r"USING INDEX tickets_open_(unit|worker) \(to_(unit|worker)=\?\)", plan), (sql, plan)
        else:  # the workload's counts per receiver, the open and overdue lists: the subtree's open tickets
            assert "USING INDEX tickets_open_path (path>? AND path<?)" in plan, (sql, plan)
    closed = db.query(f"SELECT COUNT(*) FROM tickets WHERE NOT ({OPEN_TICKET}) AND to_unit IS NOT NULL")[0][0]
    held = db.query(f"SELECT COUNT(*) FROM tickets INDEXED BY tickets_open_unit WHERE {OPEN_TICKET} AND to_unit IS NOT NULL")[0][0]
    assert closed > 0 and 0 < held == db.query(f"SELECT COUNT(*) FROM tickets WHERE {OPEN_TICKET} AND to_unit IS NOT NULL")[0][0]


def ticket_indexes(db: Database) -> set[str]:
    if db.dialect == "postgres":
        return {name for (name,) in db.query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'tickets'")}
    return {name for (name,) in db.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tickets'")}


def assert_the_receivers_indexes_become_the_open_ones(old: Database, new: Database, events: list[tuple[int, Any]]) -> None:
    """`old` made as before the open tickets' indexes (over every ticket ever dispatched), folded,
    then opened again by the projector (create_schema); `new` folded with today's: the old indexes
    dropped, the open tickets' made, and every unit's workload answers as in `new`."""
    create_schema(old)
    with old.transaction():
        for name in ("tickets_open_path", "tickets_open_unit", "tickets_open_worker"):
            old.execute(f"DROP INDEX {name}")
        old.execute("CREATE INDEX tickets_unit ON tickets (to_unit, raised_at)")  # as created before
        old.execute("CREATE INDEX tickets_worker ON tickets (to_worker, raised_at)")
    DashboardProjection(old, Clock()).apply(events)
    assert {"tickets_unit", "tickets_worker"} <= ticket_indexes(old)
    create_schema(old)
    assert ticket_indexes(old) & {"tickets_path", "tickets_open_path", "tickets_open_unit", "tickets_open_worker", "tickets_unit", "tickets_worker"} == \
        {"tickets_path", "tickets_open_path", "tickets_open_unit", "tickets_open_worker"}
    create_schema(new)
    DashboardProjection(new, Clock()).apply(events)
    orgs = [org for (org,) in new.query("SELECT org_id FROM orgs ORDER BY org_id")]
    answers = []
    for db in (old, new):
        boards, tickets = DashboardQueries(db, Clock()), TicketQueries(db, Clock())
        answers.append([tickets.workload(boards.prefixes(org), NOW) for org in orgs])
    assert answers[0] == answers[1] and any(answers[1])


def test_a_read_model_with_the_indexes_over_all_tickets_gets_the_open_ones(tmp_path: Path) -> None:
    old, new = SQLiteDatabase(tmp_path / "before.sqlite"), SQLiteDatabase(tmp_path / "dashboard.sqlite")
    assert_the_receivers_indexes_become_the_open_ones(old, new, spread_district(seed=11).positioned())
    assert everything(old) == everything(new)
