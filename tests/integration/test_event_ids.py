"""Event ids are unique across the whole ledger: the index in the event store's database, on an
old store (the golden ledger, written before the index existed) and on PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import msgspec
import pytest

import schemas as s
from adapters.eventstore import EVENT_IDS, EVENT_IDS_BUILT, event_store_env
from adapters.keys import KeyStore
from application.ledger import Incoming, Ledger
from config import Settings
from tests.golden.golden import manifest, restore_store, stored_messages
from tests.unit.civic_kit import Desk

pytestmark = pytest.mark.integration


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_the_golden_ledger_gets_the_index_from_its_history(tmp_path: Path) -> None:
    restore_store(tmp_path)
    assert EVENT_IDS not in tables(tmp_path / "ledger.sqlite")  # written before the index existed
    keys = KeyStore(tmp_path / "keys.sqlite")
    started = time.perf_counter()
    ledger = Ledger(env=event_store_env(Settings(data_dir=tmp_path)), keys=keys)
    seconds = time.perf_counter() - started
    events = manifest()["events"]
    assert ledger.indexed_on_upgrade == events, seconds
    with sqlite3.connect(tmp_path / "ledger.sqlite") as db:
        assert db.execute(f"SELECT COUNT(*) FROM {EVENT_IDS}").fetchone()[0] == events  # no id was used twice
        assert db.execute(f"SELECT upto, complete FROM {EVENT_IDS_BUILT}").fetchone() == (events, 1)

    # An old event sent again (as a producer sent it: without what the ledger adds) is a silent duplicate...
    old = next(e for e in (s.decode(m["stored"].encode(), max_bytes=None) for m in stored_messages())
               if isinstance(e, s.TicketDispatched) and not e.sealed)
    resend = msgspec.structs.replace(old, org_path=())
    position = ledger.position()
    outcome = ledger.process([Incoming(position + 1, old.type, old.org_path, s.encode(resend))])
    assert (outcome.accepted, outcome.duplicates, outcome.rejections) == (0, 1, [])
    # ...and its id reused for another ticket, which the per-ticket memory could not see, is refused.
    other = s.TicketRaised(event_id=old.event_id, occurred_at=old.occurred_at, source="t", actor=s.Actor(role="resident", id="r"),
                           org_id=old.org_id, ticket_id="NEW-1", category="roads", title="lamp out")
    outcome = ledger.process([Incoming(position + 2, other.type, old.org_path, s.encode(other))])
    assert [(r.code, r.event_id) for r in outcome.rejections] == [("conflicting_duplicate", old.event_id)]
    keys.close()
    # Started again: nothing to build.
    keys = KeyStore(tmp_path / "keys.sqlite")
    assert Ledger(env=event_store_env(Settings(data_dir=tmp_path)), keys=keys).indexed_on_upgrade == 0
    keys.close()


def test_the_index_on_postgresql(tmp_path: Path, postgres_url: str) -> None:
    import psycopg

    settings = Settings(data_dir=tmp_path, database_url=postgres_url)
    keys = KeyStore(tmp_path / "keys.sqlite")
    desk = Desk(Ledger(env=event_store_env(settings), keys=keys), keys)
    desk.build_tree()
    raised = desk.raise_ticket("T1")
    assert desk.codes(desk.ev("DisputeRegistered", event_id=raised.event_id)) == ["conflicting_duplicate"]
    assert desk.send(desk.msg(raised)).duplicates == 1
    stored = desk.stored_count()

    with psycopg.connect(postgres_url, autocommit=True) as db:  # what an older release left
        db.execute(f"DROP TABLE {EVENT_IDS}")
        db.execute(f"DROP TABLE {EVENT_IDS_BUILT}")
    again = Desk(Ledger(env=event_store_env(settings), keys=keys), keys)
    assert again.ledger.indexed_on_upgrade == stored
    again.seq, again.n, again.parent = desk.seq, desk.n, dict(desk.parent)
    assert again.codes(again.ev("TopicProposed", org="k1", event_id=raised.event_id)) == ["conflicting_duplicate"]
    keys.close()
