"""A version being built (projections/store.py Versions.building): written without a journal or
syncs under a name nothing opens, then left exactly as a live version is; a failed build leaves nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from projections.store import BuildUnderWay, SQLiteDatabase, Versions


def modes(db: SQLiteDatabase) -> tuple[str, int]:
    return db.query("PRAGMA journal_mode")[0][0], db.query("PRAGMA synchronous")[0][0]


def test_a_version_is_built_without_journal_or_syncs_and_ends_as_a_live_one(tmp_path: Path) -> None:
    versions = Versions("board", tmp_path)
    with versions.building(1) as db:
        assert isinstance(db, SQLiteDatabase) and modes(db) == ("off", 0)
        db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        with db.transaction():
            db.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
        assert versions.next_version() == 1 and not (versions.folder / "board-v1.sqlite").exists(), "not a version yet"
    assert sorted(p.name for p in versions.folder.glob("*.sqlite*")) == ["board-v1.sqlite"]
    reader = versions.open(1, readonly=True)
    assert reader.query("SELECT COUNT(*) FROM t") == [(1000,)] and reader.query("PRAGMA journal_mode") == [("wal",)]
    reader.close()
    writer = versions.open(1)  # as the projector opens it after the switch
    assert isinstance(writer, SQLiteDatabase) and modes(writer) == ("wal", 1)
    writer.execute("INSERT INTO t VALUES (1000)")
    writer.close()
    assert versions.next_version() == 2


def test_a_failed_build_leaves_nothing_and_frees_its_number(tmp_path: Path) -> None:
    versions = Versions("board", tmp_path)
    with pytest.raises(ValueError, match="bad event"):
        with versions.building(1) as db:
            db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY)")
            raise ValueError("bad event")
    assert not list(versions.folder.glob("*.sqlite*")) and versions.next_version() == 1


def test_one_build_of_a_read_model_at_a_time(tmp_path: Path) -> None:
    versions = Versions("board", tmp_path)
    with versions.building(1):
        with pytest.raises(BuildUnderWay, match="already under way"):
            with Versions("board", tmp_path).building(1):
                pass
        with Versions("other", tmp_path).building(1):  # another read model's build is its own
            pass
    with versions.building(2):  # the lock went with the first build
        pass


def test_a_built_version_is_never_built_over(tmp_path: Path) -> None:
    versions = Versions("board", tmp_path)
    with versions.building(1):
        pass
    with pytest.raises(FileExistsError):
        with versions.building(1):
            pass
    assert (versions.folder / "board-v1.sqlite").exists()
