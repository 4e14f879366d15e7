"""The ledger role stopping while its fetch ahead is in flight: nats-py's fetch can end the
cancelled wait in another error (ConnectionClosedError, the connection closing as the role stops);
that error is taken, not left to asyncio to log as a traceback at exit (it failed the demo's test,
which checks the log holds none). Wiring only, with fakes; the loop against a real nats-server is
tests/integration's."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import nats.errors

from consumers.ledger import LedgerWorker


class Pull:
    def __init__(self) -> None:
        self.fetches = 0

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        self.fetches += 1
        if self.fetches == 1:
            return ["a message"]
        try:
            await asyncio.Event().wait()  # the fetch ahead, waiting for messages
        except asyncio.CancelledError:  # as nats-py's next_msg does when its connection has closed
            raise nats.errors.ConnectionClosedError from None
        return []


class Ledger:
    def position(self) -> int:
        return 0

    def reapply_erasures(self) -> int:
        return 0


class Connection:
    def jetstream(self) -> object:
        return object()


def test_a_fetch_ahead_that_ends_in_an_error_as_the_role_stops_is_not_logged_as_never_retrieved() -> None:
    worker = LedgerWorker(Connection(), Ledger())  # type: ignore[arg-type]
    pull, stop = Pull(), asyncio.Event()

    async def started() -> None:
        return None

    async def bind(fresh: bool) -> Pull:
        return pull

    async def on_batch(msgs: list[Any]) -> None:
        stop.set()  # the role is told to stop while this batch is stored
        await asyncio.sleep(0)

    worker._report_start, worker._bind, worker.on_batch = started, bind, on_batch  # type: ignore[method-assign, assignment]
    errors: list[dict[str, Any]] = []

    async def run() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, context: errors.append(context))
        await worker.run(stop)
        for _ in range(3):  # the cancelled fetch ends, then its callbacks run
            await asyncio.sleep(0)
        gc.collect()  # an error never retrieved is reported when its task is collected

    asyncio.run(run())
    assert pull.fetches == 2
    assert errors == []
