"""A version being built on PostgreSQL (projections/store.py Versions.building): one build of a read
model at a time, held by a session advisory lock that the server releases when the builder's
connection ends, however it ends; a built version is never built over; a failed build leaves nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from projections.store import BuildUnderWay, Versions


def schemas(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'board%'")}


def advisory_locks(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory'").fetchone()
        return row[0] if row else 0


def test_one_build_of_a_read_model_at_a_time(postgres_url: str, tmp_path: Path) -> None:
    versions = Versions("board", tmp_path, postgres_url)
    with versions.building(1) as db:
        db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        with pytest.raises(BuildUnderWay, match="a rebuild of board is already under way"):
            with Versions("board", tmp_path, postgres_url).building(1):
                pass
        with Versions("board_other", tmp_path, postgres_url).building(1):  # another read model's build is its own
            pass
    assert versions.open(1).query("SELECT COUNT(*) FROM t") == [(0,)]
    with versions.building(2):  # the lock went with the first build
        pass
    assert advisory_locks(postgres_url) == 0


def test_a_built_version_is_never_built_over(postgres_url: str, tmp_path: Path) -> None:
    versions = Versions("board", tmp_path, postgres_url)
    with versions.building(1) as db:
        db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO t VALUES (7)")
    with pytest.raises(FileExistsError, match="version 1 was built already"):
        with versions.building(1):
            pass
    assert versions.open(1).query("SELECT k FROM t") == [(7,)], "the built version is untouched"


def test_a_failed_build_leaves_nothing(postgres_url: str, tmp_path: Path) -> None:
    versions = Versions("board", tmp_path, postgres_url)
    with pytest.raises(ValueError, match="bad event"):
        with versions.building(1) as db:
            db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
            raise ValueError("bad event")
    assert "board_v1" not in schemas(postgres_url) and versions.next_version() == 1
    assert advisory_locks(postgres_url) == 0


BUILDER = """
import sys, time
from pathlib import Path
from projections.store import Versions
with Versions("board", Path(sys.argv[1]), sys.argv[2]).building(1) as db:
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    print("building", flush=True)
    time.sleep(120)
"""


def test_a_builder_that_dies_releases_the_lock(postgres_url: str, tmp_path: Path) -> None:
    builder = subprocess.Popen([sys.executable, "-c", BUILDER, str(tmp_path), postgres_url], stdout=subprocess.PIPE, text=True)
    try:
        assert builder.stdout is not None and builder.stdout.readline().strip() == "building"
        versions = Versions("board", tmp_path, postgres_url)
        with pytest.raises(BuildUnderWay):
            with versions.building(versions.next_version()):
                pass
    finally:
        builder.kill()  # no clean-up runs: the server ends its sessions when it sees the sockets close
        builder.wait()
    deadline = time.monotonic() + 30
    while advisory_locks(postgres_url):  # the barrier: the server has ended the dead builder's session
        assert time.monotonic() < deadline, "the dead builder's lock was never released"
        time.sleep(0.05)
    assert "board_v1" in schemas(postgres_url) and versions.next_version() == 2, "its schema is counted, never switched to"
    with versions.building(2) as db:
        db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
    assert versions.current() is None
