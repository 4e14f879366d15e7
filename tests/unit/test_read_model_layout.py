"""The read model's tables on SQLite: the counter tables and the deadline tasks are clustered on
their keys (WITHOUT ROWID, projections/store.py clustered), and a read model created before, with
rowid tables, folds the same events to the same rows and figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fold_kit import everything, open_projection
from projections import deadlines
from projections.dashboard import FLOW_TOTAL, MONTHLY, DashboardProjection, _ddl, create_schema
from projections.facts import Clock
from projections.store import SQLiteDatabase

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
