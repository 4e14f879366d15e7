"""Where read models live: a SQLite file per version by default, a PostgreSQL schema per version
at scale, and the `current` pointer that a rebuild moves atomically (blue/green).

SQL is written once, SQLite-style (`?` placeholders, ON CONFLICT upserts); the PostgreSQL
connection rewrites the placeholders. Paths are compared byte-wise (COLLATE "C" on PostgreSQL)
so a subtree is one index range.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Protocol

if TYPE_CHECKING:
    import psycopg  # only with the postgres extra; imported where it is used



POINTER_APPLICATION = "civic read-model versions"
"""The application_name of Versions' kept connection (pg_stat_activity shows it so)."""


class BuildUnderWay(RuntimeError):
    """Another process is building a version of this read model (Versions.building)."""


class Database(Protocol):
    dialect: str

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...
    def transaction(self) -> Any: ...
    def snapshot(self) -> Any: ...
    def close(self) -> None: ...


WRITER_CACHE_KIB = 65536
"""The page cache of the one connection that folds a read model: the pages a batch's upserts
touch again and again (the rows of every unit on the items' paths)."""
READER_CACHE_KIB = 4096
"""The page cache of a read-only connection. A web process holds one per worker thread, so a
large one multiplies (64 MiB each took the web role past 300 MB at a million events); and in WAL
mode a reader's cache is emptied whenever the folding connection has committed since its last
read, which while events flow is every read. The OS keeps the file's pages either way."""


def clustered(dialect: str) -> str:
    """The option for a table read and written by its primary key alone (the counters, the
    deadline tasks): on SQLite its rows then live in the key's B-tree (WITHOUT ROWID) instead of
    a rowid table beside an index of the key, so an upsert changes one B-tree, not two (the fold's
    commits took 30 % less CPU, its whole CPU per event about 10 % less: docs/benchmarks.md).
    A read model created before keeps its rowid tables, which answer the same; a rebuild makes
    the new ones. PostgreSQL has no such option (a heap and its primary key index)."""
    return " WITHOUT ROWID" if dialect == "sqlite" else ""


class SQLiteDatabase:
    dialect = "sqlite"

    def __init__(self, path: Path, readonly: bool = False, building: bool = False):
        """readonly: a reader's connection. building: a version being built (a rebuild's new
        version, the audit replay's scratch copy), which nobody reads until it is `built()` and
        which is thrown away, never repaired, if its builder dies; otherwise the live read model."""
        self.path = path
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False, timeout=10)
        if building:
            # No journal and no syncs (https://www.sqlite.org/pragma.html#pragma_journal_mode): each
            # commit writes its pages once, into the file, where WAL writes them to the WAL and
            # again into the file at each checkpoint, and syncs both. The fold's growth with
            # history was mostly that system time; a rebuild's fold takes 20 % less CPU per event
            # this way (docs/benchmarks.md "A version being built"). OFF rather than MEMORY:
            # MEMORY keeps a copy of every page a transaction changes so that ROLLBACK works
            # (peak RSS +58 MB at 1M events, batches of 5,000) and cost 10 % more CPU than OFF.
            # What OFF gives up: a ROLLBACK, or a crash mid-transaction, leaves the file undefined. Neither matters here: a failed build is thrown away whole
            # (Versions.building), a crashed one is never named as a version, and the next
            # rebuild starts it again from the ledger.
            self.conn.execute("PRAGMA journal_mode=OFF")
            self.conn.execute("PRAGMA synchronous=OFF")
        elif not readonly:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable at each checkpoint, never corrupt
        self.conn.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB if readonly else WRITER_CACHE_KIB}")

    def built(self) -> None:
        """The version being built is complete: from now on WAL + NORMAL like any live read model
        (WAL mode is kept in the file, so the projector and the web open it as they open any), and
        every page it was written with, unsynced until now, on disk before anything points at it."""
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        _fsync(self.path)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(sql, params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Several reads that see one state of the database (a read transaction)."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's: a rename in it) written pages to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def primary_key(db: Database, table: str) -> tuple[str, ...]:
    """The columns of a stored table's primary key, in order (() if there is no such table)."""
    if db.dialect == "postgres":
        rows = db.query("SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
                        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = to_regclass(?) AND i.indisprimary "
                        "ORDER BY array_position(i.indkey::int2[], a.attnum)", (table,))
    else:
        rows = db.query("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk", (table,))
    return tuple(r[0] for r in rows)


def rewrite_table(db: Database, table: str, create: str, columns: tuple[str, ...], values: tuple[str, ...], order: str) -> None:
    """A stored table rewritten in place with another layout, inside the caller's transaction: the
    new table made beside it (`create`, a CREATE TABLE with `{name}` for its name), filled from it
    (`values`: SQL over the old table's columns, one for each of `columns`, in `order`), the old
    one dropped and the new one renamed."""
    new = f"{table}_rewritten"
    db.execute(f"DROP TABLE IF EXISTS {new}")
    db.execute(create.format(name=new))
    db.execute(f"INSERT INTO {new} ({', '.join(columns)}) SELECT {', '.join(values)} FROM {table} ORDER BY {order}")
    db.execute(f"DROP TABLE {table}")
    db.execute(f"ALTER TABLE {new} RENAME TO {table}")
    if db.dialect == "postgres":  # the key's index keeps the name it was made with; a later rewrite makes it again
        db.execute(f"ALTER INDEX {new}_pkey RENAME TO {table}_pkey")


def remove_sqlite(path: Path) -> None:
    """A SQLite database's file and the files beside it (WAL, shared memory, rollback journal)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


_PLACEHOLDER = re.compile(r"\?")


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, url: str, schema: str):
        import psycopg

        self.conn = psycopg.connect(url, autocommit=True)
        self.schema = schema
        try:
            self.conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        except (psycopg.errors.DuplicateSchema, psycopg.errors.UniqueViolation):
            pass  # created concurrently by another process opening the same version
        self.conn.execute(f'SET search_path TO "{schema}"')
        # As SQLite's WAL + synchronous=NORMAL above: a commit does not wait for its WAL flush. A
        # crash may lose the last transactions, each its rows and its position together, so the
        # projector applies them again from the ledger; nothing is half-written. (The event store,
        # the system of record, keeps PostgreSQL's default: every commit flushed.)
        self.conn.execute("SET synchronous_commit TO off")

    @staticmethod
    def _sql(sql: str) -> str:
        return _PLACEHOLDER.sub("%s", sql.replace("%", "%%"))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(self._sql(sql), params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(self._sql(sql), list(rows))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(self._sql(sql), params).fetchall()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.conn.transaction():
            yield

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Several reads that see one state of the database."""
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def close(self) -> None:
        self.conn.close()

    def alive(self) -> bool:
        """Whether the connection still works (after a PostgreSQL restart it does not)."""
        if self.conn.broken or self.conn.closed:
            return False
        try:
            self.conn.execute("SELECT 1")
            return True
        except Exception:
            return False


class Versions:
    """The versions of one read model and which one is `current`.

    SQLite: DIR/readmodels/<name>-v<N>.sqlite and DIR/readmodels/<name>.current (the number,
    replaced atomically by rename). PostgreSQL: schema <name>_v<N> and a row in
    public.civic_read_models, read and written over one kept connection (`_pointer`); close()
    closes it (a Versions is also a context manager that does).
    """

    def __init__(self, name: str, data_dir: Path, database_url: str | None = None):
        self.name, self.data_dir = name, data_dir
        self.pg_url = database_url if database_url and database_url.startswith(("postgresql://", "postgres://")) else None
        self.folder = data_dir / "readmodels"
        self._conn: psycopg.Connection[Any] | None = None
        self._conn_lock = threading.Lock()

    def __enter__(self) -> Versions:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the kept PostgreSQL connection, if one is open (a later call opens another)."""
        with self._conn_lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _pointer(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        """One statement on PostgreSQL about the versions (the pointer, the schemas), over the one
        connection this Versions keeps. Kept, not opened per statement: the web's read side asks
        for `current` once a second per read model and process, the projector as often, and a
        new connection each time was a backend forked, authenticated and torn down on the server
        every second (milliseconds of its CPU and a connection slot). Opened at the first
        statement; shared by the threads that ask (the web's workers) under a lock, each
        statement in autocommit, so nothing stays open between them. A connection that broke
        (PostgreSQL restarted, the backend terminated) is replaced and the statement asked once
        more: every statement here is idempotent (a read, an upsert of the pointer, a DROP ... IF
        EXISTS), and a failure on the new connection is the caller's, as before."""
        import psycopg

        with self._conn_lock:
            for attempt in (1, 2):
                if self._conn is None or self._conn.closed or self._conn.broken:
                    if self._conn is not None:
                        self._conn.close()
                    self._conn = None
                    conn = psycopg.connect(self.pg_url or "", autocommit=True, application_name=POINTER_APPLICATION)
                    try:
                        self._pg_pointer_table(conn)
                    except BaseException:
                        conn.close()
                        raise
                    self._conn = conn
                try:
                    cursor = self._conn.execute(sql, params)
                    return cursor.fetchall() if cursor.description is not None else []
                except psycopg.OperationalError:
                    if attempt == 2 or not (self._conn.closed or self._conn.broken):
                        raise  # a statement that failed on a working connection is not a lost connection
            raise AssertionError("unreachable")

    def current(self) -> int | None:
        if self.pg_url:
            rows = self._pointer("SELECT version FROM public.civic_read_models WHERE name=%s", (self.name,))
            return rows[0][0] if rows else None
        try:
            return int((self.folder / f"{self.name}.current").read_text())
        except FileNotFoundError:
            return None

    def switch(self, version: int) -> None:
        """Point `current` at version, atomically: readers see the old or the new, never neither."""
        if self.pg_url:
            self._pointer("INSERT INTO public.civic_read_models VALUES (%s, %s) ON CONFLICT (name) DO UPDATE SET version=excluded.version",
                          (self.name, version))
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{self.name}.current.{os.getpid()}"
        tmp.write_text(str(version))
        os.replace(tmp, self.folder / f"{self.name}.current")

    def open(self, version: int, readonly: bool = False) -> Database:
        if self.pg_url:
            return PostgresDatabase(self.pg_url, f"{self.name}_v{version}")
        self.folder.mkdir(parents=True, exist_ok=True)
        return SQLiteDatabase(self.folder / f"{self.name}-v{version}.sqlite", readonly=readonly)

    @contextmanager
    def building(self, version: int) -> Iterator[Database]:
        """A new version being built (a rebuild's), finished when the block ends: durable, under its
        version's name, not yet `current` (switch() does that). A block that raises leaves nothing.

        SQLite: the file is built as DIR/readmodels/building-<name>-v<N>.sqlite, a name nothing
        opens as a version (`open`, `next_version` and the switch know only <name>-v<N>.sqlite),
        without a journal or syncs (SQLiteDatabase `building`); once complete it is made durable
        and renamed, the folder synced. A builder that died left at most that file: as the version
        was never named, the next rebuild takes the same number and starts it again from nothing.
        One build per read model at a time: a lock held while building (released by the OS if the
        builder dies) keeps a second rebuild from starting that file again under the first.

        PostgreSQL: the schema <name>_v<N> is built with the live read model's settings
        (synchronous_commit off: a commit does not wait for its WAL flush, and the WAL is written
        once, not synced per commit), and dropped if the build fails. A machine that dies mid-build
        leaves the schema: `next_version` counts it, so it is never switched to, and a later
        rebuild's clean-up drops it. The lock is a session advisory lock on a connection of its
        own (released by the server when that connection ends, as the OS releases SQLite's): two
        rebuilds that took the same number would otherwise fold into one schema. Building it UNLOGGED would skip the WAL while building, but
        SET LOGGED then rewrites every table of the version into the WAL: it trades one WAL write
        of the pages each batch changes (not waited for already) for one of the whole read model
        at the end; not tried (docs/benchmarks.md "A version being built")."""
        if self.pg_url:
            import psycopg

            with psycopg.connect(self.pg_url, autocommit=True) as lock:
                held = lock.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                                    (f"civic read model build {self.name}",)).fetchone()
                if not (held and held[0]):
                    raise BuildUnderWay(f"a rebuild of {self.name} is already under way")
                schema = f"{self.name}_v{version}"
                if lock.execute("SELECT 1 FROM information_schema.schemata WHERE schema_name=%s", (schema,)).fetchone():
                    raise FileExistsError(f"schema {schema} exists: version {version} was built already")
                db: Database = PostgresDatabase(self.pg_url, schema)
                try:
                    yield db
                except BaseException:
                    db.close()
                    self.drop(version)
                    raise
                db.close()
            return
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / f"building-{self.name}.lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise BuildUnderWay(f"a rebuild of {self.name} is already under way") from None
            built = self.folder / f"{self.name}-v{version}.sqlite"
            if built.exists():
                raise FileExistsError(f"{built} exists: version {version} was built already")
            path = self.folder / f"building-{self.name}-v{version}.sqlite"
            remove_sqlite(path)  # what a builder that died left, never named as a version
            self._remove_beside()
            sqlite = SQLiteDatabase(path, building=True)
            try:
                yield sqlite
                sqlite.built()
            except BaseException:
                sqlite.close()
                remove_sqlite(path)
                raise
            finally:
                self._remove_beside()
            sqlite.close()
            os.replace(path, built)
            _fsync(self.folder)

    def beside(self, version: int, part: str) -> Path:
        """A SQLite file a build of `version` writes beside it (a rebuild's share), removed when the
        build ends however it ends, and by the next build if its builder died."""
        return self.folder / f"building-{self.name}-v{version}-{part}.sqlite"

    def _remove_beside(self) -> None:
        for path in self.folder.glob(f"building-{self.name}-v*-*.sqlite"):
            remove_sqlite(path)

    def next_version(self) -> int:
        if self.pg_url:
            rows = self._pointer("SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s", (f"{self.name}_v%",))
            taken = [int(r[0].rsplit("_v", 1)[1]) for r in rows if r[0].rsplit("_v", 1)[1].isdigit()]
        else:
            taken = [int(p.stem.rsplit("-v", 1)[1]) for p in self.folder.glob(f"{self.name}-v*.sqlite")]
        return max([0, *taken, self.current() or 0]) + 1

    def drop(self, version: int) -> None:
        """Remove an old version once nothing points at it."""
        if self.pg_url:
            self._pointer(f'DROP SCHEMA IF EXISTS "{self.name}_v{version}" CASCADE')
            return
        remove_sqlite(self.folder / f"{self.name}-v{version}.sqlite")

    @staticmethod
    def _pg_pointer_table(conn: psycopg.Connection[Any]) -> None:
        import psycopg

        try:
            conn.execute("CREATE TABLE IF NOT EXISTS public.civic_read_models (name TEXT PRIMARY KEY, version INTEGER NOT NULL)")
        except (psycopg.errors.DuplicateObject, psycopg.errors.DuplicateTable, psycopg.errors.UniqueViolation):
            pass  # IF NOT EXISTS is not safe against a concurrent create (two read models starting together)
