"""The query scenario of tests/unit/test_queries.py on PostgreSQL: the same read model folded
into a schema of a throwaway cluster, every query answering as on SQLite (byte-wise path
ranges under COLLATE "C", `?` placeholders rewritten, the same ordering)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from projections.store import Database, PostgresDatabase
from tests.unit.test_deadline_fold import DeadlineScenario, fold_scenario
from tests.unit.test_queries import QueryScenario, fold

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
