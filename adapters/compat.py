"""Every use of another library's private attribute, in one place, each checked by
tests/unit/test_compat.py so that an upgrade that changes it fails a test, not production.

The versions these were read from are pinned in pyproject.toml (nats-py 2.16.0, eventsourcing
9.5.x). Before an upgrade, run tests/unit/test_compat.py; if it fails, read the new sources and
adapt the function here (or switch to the public API the test names, once the library has one).

Looked for and not needed: whether a nats-py message was acked is the public `Msg.is_acked`
(consumers/ledger.py uses it); eventsourcing's `Aggregate._create` is the documented way for
an aggregate class to create itself.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.application import Cache, LRUCache, Repository
from nats.aio.client import Client


def drop_unsent(nc: Client) -> bool:
    """Drop what a nats-py client still buffers for a connection that died.

    nats-py 2.x keeps unsent commands in `Client._pending` (a list of bytes) and their size in
    `Client._pending_data_size`, and flushes them after a reconnect: a producer that resends
    its lost messages itself would then see the old ones arrive after the resend, out of
    order. nats-py has no public way to drop them (`pending_data_size` only reads the size).
    False, dropping nothing, if this nats-py keeps no such list.
    """
    pending = getattr(nc, "_pending", None)
    if not isinstance(pending, list):
        return False
    pending.clear()
    nc._pending_data_size = 0
    return True


def reset_aggregate_cache(repository: Repository[Any]) -> None:
    """Empty the repository's aggregate cache, keeping its size limit.

    eventsourcing 9.5 has no public method that empties it: `LRUCache.clear()` resets only the
    recency list, and its key -> entry dict keeps answering `get()`. So a fresh cache of the
    same kind replaces it, through `Repository.cache`, a public attribute that `get()` reads on
    every call (formerly `cache.__init__()` was called again on the live object).
    """
    cache = repository.cache
    if isinstance(cache, LRUCache):
        repository.cache = LRUCache(maxsize=cache.maxsize)
    elif cache is not None:
        repository.cache = Cache()
