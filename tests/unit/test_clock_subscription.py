"""Why the clock's subscriber is push, not pull (consumers/clock.py): FastStream 0.7.8's pull loop
catches only nats.errors.TimeoutError around `fetch`, and nats-py 2.16's fetch also raises a bare
asyncio.TimeoutError (when its deadline is spent between its two requests), which ends the loop.
Checked against the installed libraries' own code; if an upgrade changes either, these fail."""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace
from typing import Any

import nats.errors
import pytest
from faststream.nats import PullSub
from faststream.nats.subscriber.usecases.stream_pull_subscriber import PullStreamSubscriber
from nats.js.client import JetStreamContext


class Fetching:
    """A pull subscription whose fetches raise what it is given, then stop the loop."""

    def __init__(self, owner: SimpleNamespace, *errors: BaseException):
        self.owner, self.errors, self.calls = owner, list(errors), 0

    async def fetch(self, batch: int, timeout: float) -> list[Any]:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        self.owner.running = False
        return []


def loop_with(*errors: BaseException) -> tuple[SimpleNamespace, Fetching]:
    owner = SimpleNamespace(running=True, pull_sub=PullSub(batch_size=1, timeout=0.1))
    owner.subscription = Fetching(owner, *errors)
    return owner, owner.subscription


async def nothing(msg: Any) -> None:
    pass


def test_nats_py_fetch_raises_a_bare_asyncio_timeout() -> None:
    source = inspect.getsource(JetStreamContext.PullSubscription._fetch_n)
    assert "raise asyncio.TimeoutError" in source
    assert not issubclass(asyncio.TimeoutError, nats.errors.TimeoutError)


async def test_faststreams_pull_loop_survives_nats_timeouts_only() -> None:
    owner, fetching = loop_with(nats.errors.TimeoutError(), nats.errors.TimeoutError())
    await PullStreamSubscriber._consume_pull(owner, cb=nothing)  # type: ignore[arg-type]
    assert fetching.calls == 3


async def test_faststreams_pull_loop_dies_on_the_bare_timeout() -> None:
    owner, fetching = loop_with(asyncio.TimeoutError())
    with pytest.raises(asyncio.TimeoutError):
        await PullStreamSubscriber._consume_pull(owner, cb=nothing)  # type: ignore[arg-type]
    assert fetching.calls == 1  # no second fetch: the subscriber stops receiving
