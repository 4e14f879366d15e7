"""The ledger's event store, as the eventsourcing library sees it: its settings from ours, and a
reader for the roles that follow the store (relay, audit, rebuild).

Here rather than in config/: the names below are the library's, and config stays a leaf that
knows no library.
"""

from __future__ import annotations

from urllib.parse import unquote, urlparse

from eventsourcing.persistence import ApplicationRecorder, InfrastructureFactory, ProcessRecorder

from eventsourcing.utils import Environment

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
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": path,
        "SQLITE_LOCK_TIMEOUT": "10",
        "CREATE_TABLE": "y" if create_tables else "n",
    }


def open_recorder(settings: Settings) -> ApplicationRecorder:
    """A reader of the ledger's store; it creates nothing (the ledger owns the schema)."""
    env = Environment("ledger", event_store_env(settings, create_tables=False))
    return InfrastructureFactory.construct(env).application_recorder()


def open_position_reader(settings: Settings) -> ProcessRecorder:
    """The store's tracking table as well (ProcessRecorder.max_tracking_id): the ledger's stored
    intake position, for the eraser; it creates nothing."""
    env = Environment("ledger", event_store_env(settings, create_tables=False))
    return InfrastructureFactory.construct(env).process_recorder()


def postgres_reachable(database_url: str, timeout: float = 2.0) -> bool:
    """Whether the PostgreSQL behind CIVIC_DATABASE_URL answers a query now."""
    import psycopg

    try:
        with psycopg.connect(database_url, connect_timeout=max(1, int(timeout))) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False
