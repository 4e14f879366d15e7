"""The query scenario of tests/unit/test_queries.py on PostgreSQL: the same read model folded
into a schema of a throwaway cluster, every query answering as on SQLite (byte-wise path
ranges under COLLATE "C", `?` placeholders rewritten, the same ordering); the month roll-ups and the
flows' running totals as on SQLite (tests/unit/test_month_rollups.py), an older read model's
totals made from its day rows, a read model keyed unit first rewritten month first, an older read
model's receivers' indexes made the open tickets'."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from fold_kit import flow_totals, month_figures
from projections.dashboard import FLOW_TOTAL, create_schema
from projections.store import Database, PostgresDatabase
from tests.unit.test_deadline_fold import DeadlineScenario, fold_scenario
from tests.unit.test_month_rollups import _spread_district, assert_answers_equal_answers_from_day_rows, assert_flow_totals, fold_spread_district
from tests.unit.test_queries import QueryScenario, fold
from tests.unit.test_read_model_layout import assert_an_old_layout_is_rewritten, assert_the_receivers_indexes_become_the_open_ones

pytestmark = pytest.mark.integration


class TestOnPostgreSQL(QueryScenario):
    @pytest.fixture(scope="class")
    @classmethod
    def db(cls, postgres_cluster: str) -> Iterator[Database]:
        import psycopg

        name = "q_" + uuid.uuid4().hex[:12]
        with psycopg.connect(postgres_cluster + "/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        db = PostgresDatabase(f"{postgres_cluster}/{name}", "dashboard_v1")
        fold(db)
        yield db
        db.close()


class TestDeadlinesOnPostgreSQL(DeadlineScenario):
    @pytest.fixture(scope="class")
    @classmethod
    def db(cls, postgres_cluster: str) -> Iterator[Database]:
        import psycopg

        name = "d_" + uuid.uuid4().hex[:12]
        with psycopg.connect(postgres_cluster + "/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        db = PostgresDatabase(f"{postgres_cluster}/{name}", "dashboard_v1")
        fold_scenario(db)
        yield db
        db.close()


def test_rollups_and_flow_totals_answer_as_the_day_rows(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    db = PostgresDatabase(postgres_url, "dashboard_v1")
    try:
        fold_spread_district(db)
        assert_flow_totals(db)
        assert_answers_equal_answers_from_day_rows(db, monkeypatch)
        # A read model from before the totals gets them from its day rows, once.
        months, totals = month_figures(db), flow_totals(db)
        db.execute(f"DROP TABLE {FLOW_TOTAL}")
        create_schema(db)
        create_schema(db)
        assert flow_totals(db) == totals and month_figures(db) == months
    finally:
        db.close()


def test_a_read_model_keyed_unit_first_is_rewritten_month_first(postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    db = PostgresDatabase(postgres_url, "dashboard_v1")
    try:
        assert_an_old_layout_is_rewritten(db, caplog)
    finally:
        db.close()


def test_the_receivers_indexes_of_an_older_read_model_become_the_open_ones(postgres_url: str) -> None:
    old, new = PostgresDatabase(postgres_url, "before_v1"), PostgresDatabase(postgres_url, "dashboard_v1")
    try:
        assert_the_receivers_indexes_become_the_open_ones(old, new, _spread_district(seed=11).positioned())
    finally:
        old.close()
        new.close()
