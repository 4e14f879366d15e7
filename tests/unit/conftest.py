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
