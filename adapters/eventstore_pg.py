"""The PostgreSQL twin of adapters.eventstore.SQLiteLedgerRecorder: the library's process
recorder plus the event-id index, in the same transactions (the reasons are there)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresProcessRecorder
from psycopg.sql import SQL, Identifier

from adapters.eventstore import EVENT_IDS, EVENT_IDS_BUILT, Fingerprint, _build


class PostgresLedgerRecorder(PostgresProcessRecorder):
    def __init__(self, datastore: Any, **kwargs: Any):
        super().__init__(datastore, **kwargs)
        schema = Identifier(self.datastore.schema)
        self.ids_table = SQL("{}.{}").format(schema, Identifier(EVENT_IDS))
        self.built_table = SQL("{}.{}").format(schema, Identifier(EVENT_IDS_BUILT))
        self.sql_create_statements += [
            SQL("CREATE TABLE IF NOT EXISTS {} (event_id text PRIMARY KEY, fingerprint text NOT NULL)").format(self.ids_table),
            SQL("CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, upto bigint NOT NULL, complete boolean NOT NULL)").format(self.built_table),
        ]

    def _insert_events(self, curs: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        if rows := kwargs.get("event_ids"):
            curs.executemany(SQL("INSERT INTO {} VALUES (%s, %s)").format(self.ids_table), rows)

    def fingerprints(self, event_ids: Iterable[str]) -> dict[str, str]:
        """The fingerprints stored under these event ids (absent ids are not in the answer)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT event_id, fingerprint FROM {} WHERE event_id = ANY(%s)").format(self.ids_table),
                         (sorted(set(event_ids)),))
            return {row["event_id"]: row["fingerprint"] for row in curs.fetchall()}

    def stored_aggregates(self, ids: Iterable[UUID]) -> set[UUID]:
        """Which of these aggregates have events in the store (see the SQLite twin)."""
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT DISTINCT originator_id FROM {}.{} WHERE originator_id = ANY(%s)").format(
                Identifier(self.datastore.schema), Identifier(self.events_table_name)), (sorted(ids),))
            return {row["originator_id"] for row in curs.fetchall()}

    def _built(self) -> tuple[int, bool]:
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL("SELECT upto, complete FROM {} WHERE name=%s").format(self.built_table), (EVENT_IDS,))
            row = curs.fetchone()
        return (row["upto"], row["complete"]) if row else (0, False)

    def _index_page(self, rows: list[tuple[str, str]], upto: int, complete: bool) -> None:
        with self.datastore.transaction(commit=True) as curs:
            if rows:
                curs.executemany(SQL("INSERT INTO {} VALUES (%s, %s) ON CONFLICT DO NOTHING").format(self.ids_table), rows)
            curs.execute(SQL("INSERT INTO {} VALUES (%s, %s, %s) ON CONFLICT (name) DO UPDATE "
                             "SET upto=excluded.upto, complete=excluded.complete").format(self.built_table),
                         (EVENT_IDS, upto, complete))

    def build_event_ids(self, fingerprint: Fingerprint, page: int = 5000) -> int:
        return _build(self, fingerprint, page)
