"""Residents' keys, in a SQLite file of their own: never in the event store, so destroying one
(crypto-shredding) erases that resident's sealed data while every stored byte and hash stays.
The sealing itself is pure and lives in domain/personal.py."""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class KeyStore:
    """resident_id -> 32-byte key, in a SQLite file of its own (one writer: the ledger)."""

    def __init__(self, path: Path | str, cache_size: int = 10_000):
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA secure_delete=ON")  # a destroyed key is overwritten on disk, not just unlinked
        self._db.execute("CREATE TABLE IF NOT EXISTS resident_keys (resident_id TEXT PRIMARY KEY, key BLOB NOT NULL)")
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._pending: dict[str, bytes] = {}
        """Keys made for this batch, written by flush() before the batch's events are stored."""
        self._lock = threading.Lock()

    def get(self, resident_id: str) -> bytes | None:
        with self._lock:
            key = self._cache.get(resident_id) or self._pending.get(resident_id)
            if key is None:
                row = self._db.execute("SELECT key FROM resident_keys WHERE resident_id=?", (resident_id,)).fetchone()
                if row is None:
                    return None
                key = self._remember(resident_id, row[0])
            return key

    def get_or_create(self, resident_ids: Iterable[str]) -> dict[str, bytes]:
        """Keys for these residents; missing ones are made now and kept pending until flush()."""
        wanted = set(resident_ids)
        found = {r: k for r in wanted if (k := self.get(r)) is not None}
        for r in wanted - found.keys():
            with self._lock:
                found[r] = self._pending[r] = AESGCM.generate_key(bit_length=256)
        return found

    def flush(self) -> None:
        """Make the pending keys durable, in one transaction: called before the events sealed with
        them are stored (a crash in between leaves an unused key, never an unreadable event)."""
        with self._lock:
            if not self._pending:
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany("INSERT OR IGNORE INTO resident_keys VALUES (?, ?)", self._pending.items())
            self._db.execute("COMMIT")
            for resident_id, key in self._pending.items():
                self._remember(resident_id, key)
            self._pending.clear()

    def destroy(self, resident_id: str) -> bool:
        """Crypto-shred: the resident's sealed data can never be read again."""
        with self._lock:
            self._cache.pop(resident_id, None)
            self._pending.pop(resident_id, None)
            cur = self._db.execute("DELETE FROM resident_keys WHERE resident_id=?", (resident_id,))
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return cur.rowcount > 0

    def close(self) -> None:
        self._db.close()

    def _remember(self, resident_id: str, key: bytes) -> bytes:
        self._cache[resident_id] = key
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return key
