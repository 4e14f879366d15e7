"""The ledger's event store, as the eventsourcing library sees it: its settings from ours, the
ledger's recorder with its event-id index, and a reader for the roles that follow the store
(relay, audit, rebuild).

Here rather than in config/: the names below are the library's, and config stays a leaf that
knows no library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import unquote, urlparse
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory, ProcessRecorder, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder, SQLiteConnection, SQLiteConnectionPool, SQLiteCursor, SQLiteFactory, SQLiteProcessRecorder,
)
from eventsourcing.utils import Environment, get_topic

from config import Settings


def event_store_env(settings: Settings, *, create_tables: bool = True) -> dict[str, str]:
    """The eventsourcing library's settings for the ledger's event store."""
    url = settings.database_url
    if url and url.startswith(("postgresql://", "postgres://")):
        u = urlparse(url)
        return {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": u.path.lstrip("/") or "civic",
            "POSTGRES_HOST": u.hostname or "localhost",
            "POSTGRES_PORT": str(u.port or 5432),
            "POSTGRES_USER": unquote(u.username or "civic"),
            "POSTGRES_PASSWORD": unquote(u.password or ""),
            "CREATE_TABLE": "y" if create_tables else "n",
        }
    if url and not url.startswith("sqlite"):
        raise SystemExit(f"CIVIC_DATABASE_URL must be postgresql://... or sqlite:///path, not {url!r}")
    path = urlparse(url).path if url else str(settings.data_dir / "ledger.sqlite")
    return {
        "PERSISTENCE_MODULE": get_topic(SQLiteStoreFactory),
        "SQLITE_DBNAME": path,
        "SQLITE_LOCK_TIMEOUT": "10",
        "CREATE_TABLE": "y" if create_tables else "n",
    }


SQLITE_CACHE_MIB = "SQLITE_CACHE_MIB"
"""The page cache of each connection to the SQLite event store, in MiB (our setting, not the library's)."""
DEFAULT_CACHE_MIB = 64
"""SQLite's default is 2 MiB. The ledger's hot pages are the upper levels of two B-trees keyed by
hashed ids (aggregates, event ids) and the pages its last batches touched; at a million events
those indexes are about 100 MiB, so 2 MiB sends most look-ups and inserts to the OS for a page,
while 64 MiB holds the upper levels and the recent leaves and keeps the role well under its
300 MB. Pages beyond it come from the OS cache, not the disk."""


class SizedCachePool(SQLiteConnectionPool):
    """The library's pool, each new connection given a page cache of `cache_mib`."""

    def __init__(self, *, cache_mib: int, **kwargs: Any):
        self.cache_mib = cache_mib
        super().__init__(**kwargs)

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        connection.cursor().execute(f"PRAGMA cache_size=-{int(self.cache_mib) * 1024}")  # negative: KiB, not pages
        return connection


class SQLiteStoreFactory(SQLiteFactory):
    """eventsourcing's SQLite factory with a page cache sized for the ledger's working set.

    The library's SQLite datastore has no setting for the page cache; its supported extension
    point is the factory (PERSISTENCE_MODULE may name a factory class, as it may a module), and
    the pool's `_create_connection`, which makes every connection, so the PRAGMA reaches each one
    whichever thread or reader takes it. The alternatives were worse: a PRAGMA after the fact on
    one pooled connection misses the others, and a datastore of our own would copy the library's
    WAL and locking set-up."""

    def __init__(self, env: Any):
        super().__init__(env)
        library_pool = self.datastore.pool
        self.datastore.pool = SizedCachePool(
            cache_mib=int(self.env.get(SQLITE_CACHE_MIB) or DEFAULT_CACHE_MIB),
            db_name=library_pool.db_name, lock_timeout=library_pool.lock_timeout)
        library_pool.close()  # made no connection yet: connections are made when first asked for


# -- a rebuild's share --------------------------------------------------------------------------
#
# A rebuild folds the ledger in several processes, its items split between them by aggregate
# (projections/rebuild.py). Each process would otherwise read every event through the library's
# select_notifications (a Python object and a UUID per row) to keep a share of them; instead the
# rows are filtered where they lie, and a process reads into Python only the rows it folds. The
# share of an aggregate is its id's last byte (uniform: ids are uuid5 of the entity's id) modulo
# the number of shares. On SQLite a notification id is the row's rowid.

_HEX = "0123456789abcdef"
_LAST_BYTE = f"(instr('{_HEX}', substr(originator_id, -2, 1)) * 16 + instr('{_HEX}', substr(originator_id, -1, 1)))"


def shares_readable(recorder: ApplicationRecorder, end: int) -> bool:
    """Whether the store can be read in shares up to notification `end`: SQLite's, its ids 1..end
    all taken (nothing was ever deleted), so that an id is the ledger position it holds."""
    if not isinstance(recorder, SQLiteApplicationRecorder):
        return False
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(f"SELECT COUNT(*) FROM {recorder.events_table_name} WHERE rowid BETWEEN 1 AND ?", (end,))
        return bool(c.fetchone()[0] == end)


def select_share(recorder: ApplicationRecorder, after: int, until: int, share: int, shares: int,
                 every_share: Iterable[str]) -> list[tuple[int, bytes]]:
    """(notification id, state) of the events at ids after+1..until in share `share` of `shares`,
    or of a topic in `every_share` (which every share reads), in order."""
    assert isinstance(recorder, SQLiteApplicationRecorder), "shares_readable() first"
    topics = sorted(every_share)
    with recorder.datastore.transaction(commit=False) as c:
        c.execute(f"SELECT rowid, state FROM {recorder.events_table_name} WHERE rowid > ? AND rowid <= ? "
                  f"AND (topic IN ({','.join('?' * len(topics))}) OR {_LAST_BYTE} % ? = ?) ORDER BY rowid",
                  (after, until, *topics, shares, share))
        return [(row[0], row[1]) for row in c.fetchall()]


def open_recorder(settings: Settings) -> ApplicationRecorder:
    """A reader of the ledger's store; it creates nothing (the ledger owns the schema)."""
    env = Environment("ledger", event_store_env(settings, create_tables=False))
    return InfrastructureFactory.construct(env).application_recorder()


def open_position_reader(settings: Settings) -> ProcessRecorder:
    """The store's tracking table as well (ProcessRecorder.max_tracking_id): the ledger's stored
    intake position, for the eraser; it creates nothing."""
    env = Environment("ledger", event_store_env(settings, create_tables=False))
    return InfrastructureFactory.construct(env).process_recorder()


# -- the event-id index ---------------------------------------------------------------------------
#
# An event_id is unique across the whole ledger, so the ledger needs every id it ever accepted,
# not only those of the aggregates a batch loads. The index is a table in the event store's own
# database, written in the same transaction as the events and the tracking position: a crash
# leaves both or neither, so no rebuild is ever needed after one.
#
# How it gets into that transaction: eventsourcing 9.5's supported extension points, nothing
# private. The factory builds the process recorder named by PROCESS_RECORDER_TOPIC (a subclass
# of its own SQLite or PostgreSQL process recorder); the recorder's create-table statements gain
# the two tables; and ProcessingEvent.saved_kwargs reach the recorder's _insert_events(cursor,
# stored_events, **kwargs), which the library calls inside the transaction (the same door it
# uses for `tracking`). The alternative, a second database or a table written after the commit,
# would need a repair after a crash between the two.
#
# Cost: one primary-key lookup per batch for all its ids (an IN list) and one insert per event;
# a B-tree, so it grows with log(history), which measures flat: see docs/benchmarks.md.

EVENT_IDS = "civic_event_ids"
"""event_id -> fingerprint of what was accepted under it (content digest and personal-data macs)."""
EVENT_IDS_BUILT = "civic_event_ids_built"
"""One row: the notification id the index was built up to from older history, and whether done."""
_CHUNK = 500  # ids per IN list: well under SQLite's and PostgreSQL's parameter limits
POSTGRES_LEDGER_RECORDER = "adapters.eventstore_pg:PostgresLedgerRecorder"
"""Its own module, so that psycopg is imported only where PostgreSQL is used."""
Fingerprint = Callable[[StoredEvent], tuple[str, str]]
"""A stored event -> (event_id, fingerprint); the ledger application knows how."""


class SQLiteLedgerRecorder(SQLiteProcessRecorder):
    """The library's SQLite process recorder plus the event-id index, in the same transactions."""

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(),
                f"CREATE TABLE IF NOT EXISTS {EVENT_IDS} (event_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL) WITHOUT ROWID",
                f"CREATE TABLE IF NOT EXISTS {EVENT_IDS_BUILT} (name TEXT PRIMARY KEY, upto INTEGER NOT NULL, complete INTEGER NOT NULL)"]

    def _insert_events(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        returning = super()._insert_events(c, stored_events, **kwargs)
        if rows := kwargs.get("event_ids"):
            c.executemany(f"INSERT INTO {EVENT_IDS} VALUES (?, ?)", rows)
        return returning

    def fingerprints(self, event_ids: Iterable[str]) -> dict[str, str]:
        """The fingerprints stored under these event ids (absent ids are not in the answer)."""
        ids, found = sorted(set(event_ids)), dict[str, str]()
        with self.datastore.transaction(commit=False) as c:
            for i in range(0, len(ids), _CHUNK):
                chunk = ids[i:i + _CHUNK]
                c.execute(f"SELECT event_id, fingerprint FROM {EVENT_IDS} WHERE event_id IN ({','.join('?' * len(chunk))})", chunk)
                found.update((row[0], row[1]) for row in c.fetchall())
        return found

    def stored_aggregates(self, ids: Iterable[UUID]) -> set[UUID]:
        """Which of these aggregates have events in the store: one indexed IN list per chunk,
        instead of one read per aggregate (the library's repository.get answers one at a time)."""
        keys, found = sorted(i.hex for i in ids), set[UUID]()
        with self.datastore.transaction(commit=False) as c:
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i:i + _CHUNK]
                c.execute(f"SELECT DISTINCT originator_id FROM {self.events_table_name} "
                          f"WHERE originator_id IN ({','.join('?' * len(chunk))})", chunk)
                found.update(UUID(row[0]) for row in c.fetchall())
        return found

    def _built(self) -> tuple[int, bool]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT upto, complete FROM {EVENT_IDS_BUILT} WHERE name=?", (EVENT_IDS,))
            row = c.fetchone()
        return (row[0], bool(row[1])) if row else (0, False)

    def _index_page(self, rows: list[tuple[str, str]], upto: int, complete: bool) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(f"INSERT OR IGNORE INTO {EVENT_IDS} VALUES (?, ?)", rows)
            c.execute(f"INSERT INTO {EVENT_IDS_BUILT} VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE "
                      "SET upto=excluded.upto, complete=excluded.complete", (EVENT_IDS, upto, int(complete)))

    def build_event_ids(self, fingerprint: Fingerprint, page: int = 5000) -> int:
        return _build(self, fingerprint, page)


def _build(recorder: Any, fingerprint: Fingerprint, page: int) -> int:
    """Index the history stored before the index existed (an upgrade); resumable page by page.

    Returns how many events were indexed. On a store that has the index, a read of one row.
    Where old history holds one id twice (accepted per aggregate before the index), the first
    occurrence is the one remembered.
    """
    upto, complete = recorder._built()
    if complete:
        return 0
    done = 0
    while True:
        notifications = recorder.select_notifications(upto + 1, page)
        rows = [fingerprint(n) for n in notifications]
        if notifications:
            upto = notifications[-1].id
        last = len(notifications) < page
        recorder._index_page(rows, upto, last)
        done += len(rows)
        if last:
            return done


def ledger_recorder(factory: InfrastructureFactory) -> ProcessRecorder:
    """The ledger's process recorder, with the event-id index, through the library's
    PROCESS_RECORDER_TOPIC setting."""
    topic = get_topic(SQLiteLedgerRecorder) if isinstance(factory, SQLiteFactory) else POSTGRES_LEDGER_RECORDER
    factory.env[factory.PROCESS_RECORDER_TOPIC] = topic
    return factory.process_recorder()


def postgres_reachable(database_url: str, timeout: float = 2.0) -> bool:
    """Whether the PostgreSQL behind CIVIC_DATABASE_URL answers a query now."""
    import psycopg

    try:
        with psycopg.connect(database_url, connect_timeout=max(1, int(timeout))) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False
