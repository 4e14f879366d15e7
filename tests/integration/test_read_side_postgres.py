"""The read side on PostgreSQL asks which version is `current` over one kept connection
(projections/store.py Versions._pointer), not a new one per question: a web process asks once a
second per read model, and each new connection is a backend forked on the server. On a real
PostgreSQL: many questions over the read side's own clock (moved by hand, never slept on) are one
backend throughout; a switch is still seen within FRESH_SECONDS, and at once when the projector is
heard writing the new version; a kept connection the server ends is replaced at the next
question, not an error to the reader; closing the read side ends it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from projections.dashboard import NAME, create_schema
from projections.facts import Clock
from projections.readside import ReadSide
from projections.store import POINTER_APPLICATION, Versions
from schemas.status import ReadModelStatus
from tests.unit.test_timeline_cache import Monotonic

pytestmark = pytest.mark.integration


@pytest.fixture
def server(postgres_url: str) -> Iterator[psycopg.Connection]:
    """The test's own view of the server (pg_stat_activity), under another application_name."""
    with psycopg.connect(postgres_url, autocommit=True, application_name="the test") as conn:
        yield conn


def pointer_backends(server: psycopg.Connection) -> list[tuple[int, object]]:
    """(pid, backend_start) of every backend of the test's database that Versions opened."""
    return server.execute("SELECT pid, backend_start FROM pg_stat_activity WHERE datname = current_database() "
                          "AND application_name = %s ORDER BY pid", (POINTER_APPLICATION,)).fetchall()


def backends(server: psycopg.Connection) -> int:
    """Client backends of the test's database other than the test's own."""
    return server.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchone()[0]


def gone(server: psycopg.Connection, pid: int) -> None:
    """Wait until a backend whose client closed its connection has exited (it does so on its own)."""
    deadline = time.monotonic() + 10
    while server.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchall():
        assert time.monotonic() < deadline, f"backend {pid} still there"
        time.sleep(0.01)


@pytest.fixture
def built(postgres_url: str, tmp_path: Path) -> Iterator[Versions]:
    """Versions 1 and 2 of the dashboard read model built, 1 current (as a rebuild leaves it just
    before its switch); the Versions that built them, closed at the end."""
    with Versions(NAME, tmp_path, postgres_url) as writer:
        for version in (1, 2):
            db = writer.open(version)
            create_schema(db)
            db.close()
        writer.switch(1)
        yield writer


def test_many_questions_are_one_connection(built: Versions, server: psycopg.Connection, postgres_url: str, tmp_path: Path) -> None:
    built.close()
    assert backends(server) == 0
    clock = Monotonic()
    read = ReadSide(Versions(NAME, tmp_path, postgres_url), Clock(), monotonic=clock)
    assert read.version() == 1
    first = pointer_backends(server)
    assert len(first) == 1
    for _ in range(60):  # a minute of a web process asking once a second
        clock.stale()
        assert read.version() == 1
    assert pointer_backends(server) == first  # the same backend, started once
    assert backends(server) == 1
    read.close()
    gone(server, first[0][0])
    assert read.version() == 1  # reads after close() open it again
    read.close()


def test_a_switch_is_seen_within_the_second_or_when_the_projector_is_heard(built: Versions, postgres_url: str, tmp_path: Path) -> None:
    clock = Monotonic()
    read = ReadSide(Versions(NAME, tmp_path, postgres_url), Clock(), monotonic=clock)
    try:
        assert read.version() == 1
        built.switch(2)
        assert read.version() == 1  # asked less than FRESH_SECONDS ago
        clock.stale()
        assert read.version() == 2
        built.switch(1)  # back (a rollback): only the question sees it, the projector announces no newer version
        read.announced(ReadModelStatus(name=NAME, version=1, position=0))
        assert read.version() == 2
        clock.stale()
        assert read.version() == 1
        built.switch(2)
        read.announced(ReadModelStatus(name="event_index", version=2, position=0))  # another read model's news
        assert read.version() == 1
        read.announced(ReadModelStatus(name=NAME, version=2, position=0))  # the projector writes v2: current moved
        assert read.version() == 2  # asked now, not within the second
    finally:
        read.close()


def test_a_connection_the_server_ends_is_replaced_at_the_next_question(built: Versions, server: psycopg.Connection,
                                                                       postgres_url: str, tmp_path: Path) -> None:
    built.close()
    clock = Monotonic()
    read = ReadSide(Versions(NAME, tmp_path, postgres_url), Clock(), monotonic=clock)
    try:
        assert read.version() == 1
        [(pid, _)] = pointer_backends(server)
        assert server.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()[0]  # waits until it is gone
        clock.stale()
        assert read.version() == 1  # no error: asked again on a new connection
        [(again, _)] = pointer_backends(server)
        assert again != pid
        clock.stale()
        assert read.version() == 1
        assert [p for p, _ in pointer_backends(server)] == [again]  # the new one kept
        built.switch(2)
        clock.stale()
        assert read.version() == 2
    finally:
        read.close()
