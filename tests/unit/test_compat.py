"""adapters/compat.py leans on other libraries' private attributes: these tests fail when an
upgrade changes them (or adds the public API that makes them unnecessary), before production
does. The versions they were written against are pinned in pyproject.toml."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from uuid import uuid4

from eventsourcing.application import Application, Cache, LRUCache
from eventsourcing.domain import Aggregate, event
from nats.aio.client import Client
from nats.aio.msg import Msg

from adapters.compat import drop_unsent, reset_aggregate_cache

# -- nats-py: the client's buffer of unsent commands (producers/sdk.py, on disconnect) ---------


async def test_drop_unsent_empties_the_buffer_that_publish_fills() -> None:
    nc = Client()
    assert isinstance(nc._pending, list) and nc._pending_data_size == 0
    buffer = nc._pending
    command = b"PUB civic.intake.x 1\r\n1\r\n"
    await nc._send_command(command)  # what publish() does while reconnecting
    assert buffer == [command] and nc.pending_data_size == len(command)

    assert drop_unsent(nc) is True
    assert nc._pending is buffer and buffer == []  # the very list the flusher reads
    assert nc.pending_data_size == 0  # the public property reads the counter we reset


def test_the_flusher_writes_that_buffer_only_while_its_size_is_positive() -> None:
    """After a reconnect the flusher writes `_pending` if `_pending_data_size` > 0: resetting
    both is what keeps the old messages from following the resend."""
    flusher = inspect.getsource(Client._flusher)
    assert "if self._pending_data_size > 0:" in flusher
    assert "writelines(self._pending[:])" in flusher


def test_drop_unsent_leaves_a_client_without_such_buffer_alone() -> None:
    class Other:
        pass

    assert drop_unsent(Other()) is False  # type: ignore[arg-type]  # deliberately not a Client


# -- nats-py: the public Msg.is_acked the ledger consumer relies on (no private use left) ------


@dataclass
class _Published:
    replies: list[tuple[str, bytes]]

    async def publish(self, subject: str, payload: bytes = b"", headers: object = None) -> None:
        self.replies.append((subject, payload))


async def test_is_acked_is_set_by_ack_and_nak_not_by_in_progress() -> None:
    client = _Published([])
    msgs = [Msg(_client=client, subject="civic.intake.x", reply=f"$JS.ACK.{i}") for i in range(3)]  # type: ignore[arg-type]  # a stand-in client
    await msgs[0].ack()
    await msgs[1].nak(delay=1.0)
    await msgs[2].in_progress()
    assert [m.is_acked for m in msgs] == [True, True, False]


# -- eventsourcing: emptying the aggregate cache (application/ledger.py, a failed batch) -------


class Note(Aggregate):
    @event("Written")
    def __init__(self, text: str) -> None:
        self.text = text


def test_lru_cache_clear_does_not_empty_it() -> None:
    """Why reset_aggregate_cache replaces the cache: if this fails, LRUCache.clear() now
    forgets entries, and reset_aggregate_cache should call it instead."""
    cache: LRUCache[str, int] = LRUCache(maxsize=4)
    cache.put("k", 1)
    cache.clear()
    assert cache.get("k") == 1


def test_reset_aggregate_cache_drops_changed_aggregates_and_keeps_the_limit() -> None:
    app: Application[object] = Application(env={
        "PERSISTENCE_MODULE": "eventsourcing.popo", "AGGREGATE_CACHE_MAXSIZE": "7",
        "AGGREGATE_CACHE_FASTFORWARD": "n", "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
    })
    note = Note(text="stored")
    app.save(note)
    cached = app.repository.get(note.id)
    cached.text = "changed by a batch that failed"  # in place, as the ledger's batches do
    assert app.repository.get(note.id).text == "changed by a batch that failed"

    reset_aggregate_cache(app.repository)

    assert app.repository.get(note.id).text == "stored"
    assert isinstance(app.repository.cache, LRUCache) and app.repository.cache.maxsize == 7
    assert app.repository.get(note.id) is app.repository.get(note.id)  # and it caches again


def test_reset_aggregate_cache_on_an_unbounded_cache() -> None:
    app: Application[object] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo",
                                                "AGGREGATE_CACHE_MAXSIZE": "0"})
    app.repository.cache = Cache()
    app.repository.cache.put(uuid4(), Note(text="x"))
    reset_aggregate_cache(app.repository)
    assert isinstance(app.repository.cache, Cache) and app.repository.cache.cache == {}
