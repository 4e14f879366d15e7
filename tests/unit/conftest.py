"""Fixtures for the unit tests: in-memory ledgers and key stores (no network, no files unless a
test asks for them with `ledger_files`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from adapters.keys import KeyStore
from application.ledger import Ledger
from civic_kit import MEMORY_ENV, Desk


@pytest.fixture
def keys() -> Iterator[KeyStore]:
    store = KeyStore(":memory:")
    yield store
    store.close()


@pytest.fixture
def desk(keys: KeyStore) -> Desk:
    """A fresh, empty, in-memory ledger."""
    return Desk(Ledger(env=dict(MEMORY_ENV), keys=keys), keys)


@pytest.fixture
def tree(desk: Desk) -> Desk:
    """A ledger holding the standard org tree (civic_kit.TREE)."""
    desk.build_tree()
    return desk


@pytest.fixture
def ledger_files(tmp_path: Path) -> Iterator[Callable[[], Desk]]:
    """Opens a (new) Ledger on the same SQLite files each time it is called, like a restart."""
    opened: list[KeyStore] = []

    def open_desk() -> Desk:
        keys = KeyStore(tmp_path / "keys.sqlite")
        opened.append(keys)
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite")}
        return Desk(Ledger(env=env, keys=keys), keys)

    yield open_desk
    for k in opened:
        k.close()


@pytest.fixture(scope="session")
def district_ledger() -> list:  # type: ignore[type-arg]
    """Ledger events of a small simulated district, as the ledger stores them (org paths, sealed data)."""
    from civic_kit import MEMORY_ENV, Desk, KeyStore, Ledger  # (civic_kit's imports: one place to follow a move)
    from producers.simulator import Plan, simulate

    keys = KeyStore(":memory:")
    desk = Desk(Ledger(env=dict(MEMORY_ENV), keys=keys), keys)
    events = list(simulate(Plan(seed=3, tickets=120, days=20)))
    for i in range(0, len(events), 200):
        outcome = desk.send(*events[i:i + 200])
        assert outcome.rejections == [], outcome.rejections[:3]
    stored = desk.stored_events()
    keys.close()
    return stored
