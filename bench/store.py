"""The second raw baseline: the eventsourcing library's batched insert into the same database.

What the ledger's store can take when no rule is checked: the same events, stored as the ledger
stores them (one aggregate per ticket or org unit, its events numbered from 1, the intake
position tracked in the same transaction), in batches of the ledger's size, through the
library's own process recorder. A scratch table set beside the ledger's (a file of its own on
SQLite, a schema of its own on PostgreSQL), so the figure is that database's, on that disk, in
that run, and the ledger's store is left untouched.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.persistence import InfrastructureFactory, StoredEvent, Tracking
from eventsourcing.utils import Environment

from adapters.eventstore import event_store_env
from config import Settings
from schemas import decode
from schemas.families import FAMILY_OF_TYPE

SCHEMA = "bench_baseline"
"""The PostgreSQL schema of the scratch tables."""


def baseline_env(settings: Settings) -> dict[str, str]:
    env = event_store_env(settings)
    if "SQLITE_DBNAME" in env:
        env["SQLITE_DBNAME"] = str(settings.data_dir / "bench-baseline.sqlite")
    else:
        env["POSTGRES_SCHEMA"] = SCHEMA
    return env


def stored(messages: Iterable[tuple[str, bytes]]) -> list[StoredEvent]:
    """The events as the ledger's store holds them (an aggregate per entity, its versions), made in
    advance so that only the insert is timed."""
    versions: dict[UUID, int] = {}
    out = []
    for _, data in messages:
        fact = decode(data, max_bytes=None)
        family = FAMILY_OF_TYPE[fact.type]
        # Hashed from the entity, as the ledger's aggregate ids are (a namespace of the bench's own:
        # the keys need the ledger's spread over the index, not its values).
        key = uuid5(NAMESPACE_URL, f"{family.name}:{getattr(fact, family.id_field)}")
        versions[key] = versions.get(key, 0) + 1
        out.append(StoredEvent(originator_id=key, originator_version=versions[key], topic=fact.type, state=data))
    return out


def batched_insert(settings: Settings, messages: Iterable[tuple[str, bytes]], batch: int = 1000) -> float:
    """Events per second through ProcessRecorder.insert_events, `batch` events and a tracking
    position per transaction."""
    events = stored(messages)
    factory = InfrastructureFactory.construct(Environment("bench", baseline_env(settings)))
    if "POSTGRES_SCHEMA" in factory.env:
        _fresh_schema(factory)
    recorder = factory.process_recorder()
    start = time.perf_counter()
    for i in range(0, len(events), batch):
        chunk = events[i:i + batch]
        recorder.insert_events(chunk, tracking=Tracking("bench", i + len(chunk)))
    rate = len(events) / (time.perf_counter() - start)
    if "POSTGRES_SCHEMA" in factory.env:
        _drop_schema(factory)
    factory.close()
    return rate


def _fresh_schema(factory: InfrastructureFactory) -> None:
    _drop_schema(factory)
    with factory.datastore.transaction(commit=True) as curs:  # type: ignore[attr-defined]
        curs.execute(f"CREATE SCHEMA {SCHEMA}")


def _drop_schema(factory: InfrastructureFactory) -> None:
    with factory.datastore.transaction(commit=True) as curs:  # type: ignore[attr-defined]
        curs.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def store_kind(settings: Settings) -> str:
    return "SQLite" if "SQLITE_DBNAME" in event_store_env(settings) else "PostgreSQL"
