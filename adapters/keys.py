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
        # The fingerprints of keys retired by an erasure, kept until the erasure event names them:
        # a crash between retiring and storing the event must not lose which keys it erased.
        self._db.execute("CREATE TABLE IF NOT EXISTS retired_keys (resident_id TEXT NOT NULL, key_id TEXT NOT NULL, "
                         "PRIMARY KEY (resident_id, key_id))")
        self._retiring: dict[str, tuple[str, ...]] = {}
        """Residents erased in this batch -> key ids to retire at flush(); their old key is not used again."""
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_size = cache_size
        self._pending: dict[str, bytes] = {}
        """Keys made for this batch, written by flush() before the batch's events are stored."""
        self._lock = threading.Lock()

    def get(self, resident_id: str) -> bytes | None:
        with self._lock:
            if resident_id in self._retiring:
                return self._pending.get(resident_id)  # the old key is being erased: only a fresh one counts
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

    def retired(self, resident_id: str) -> tuple[str, ...]:
        """Key ids retired for this resident by an erasure not yet named by a stored event."""
        with self._lock:
            rows = self._db.execute("SELECT key_id FROM retired_keys WHERE resident_id=? ORDER BY key_id", (resident_id,))
            return tuple(r[0] for r in rows)

    def retire(self, resident_id: str, key_ids: tuple[str, ...]) -> None:
        """Erase at the next flush(): the resident's current key goes, `key_ids` are remembered
        until forget_retired(); from now on this resident gets a fresh key."""
        with self._lock:
            self._retiring[resident_id] = key_ids
            self._cache.pop(resident_id, None)
            self._pending.pop(resident_id, None)

    def forget_retired(self, resident_ids: Iterable[str]) -> None:
        """The erasure events naming them are stored: the fingerprints live in the ledger now."""
        with self._lock:
            self._db.executemany("DELETE FROM retired_keys WHERE resident_id=?", [(r,) for r in resident_ids])

    def flush(self) -> None:
        """Make the pending keys durable and retire the erased ones, in one transaction: called before
        the events sealed with them are stored (a crash in between leaves an unused key, never an
        unreadable event; an erasure not stored is redelivered and names the retired keys again)."""
        with self._lock:
            if not self._pending and not self._retiring:
                return
            self._db.execute("BEGIN IMMEDIATE")
            for resident_id, key_ids in self._retiring.items():
                self._db.executemany("INSERT OR IGNORE INTO retired_keys VALUES (?, ?)", [(resident_id, k) for k in key_ids])
                self._db.execute("DELETE FROM resident_keys WHERE resident_id=?", (resident_id,))
            self._db.executemany("INSERT OR IGNORE INTO resident_keys VALUES (?, ?)", self._pending.items())
            self._db.execute("COMMIT")
            if self._retiring:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the erased keys' bytes leave the WAL too
            for resident_id, key in self._pending.items():
                self._remember(resident_id, key)
            self._pending.clear()
            self._retiring.clear()

    def discard(self) -> None:
        """Forget a batch's keys and retirements that will not be committed."""
        with self._lock:
            self._pending.clear()
            self._retiring.clear()

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
