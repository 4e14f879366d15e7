"""GET /api/events/stream: server-sent events telling open pages that the read model moved on.

A page holds one EventSource; each `position` event carries the ledger position the dashboard
read model has applied, and the page refetches what it shows. One poller per web process looks
at that position every 200 ms while at least one page listens, as the read side knows it (the
projector's announcements; the database when they are over a second old: ReadSide.position), so a
new ledger event reaches every screen within about a second, whatever the number of screens, and
costs no query while the projector is announcing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import anyio.to_thread
from litestar import get
from litestar.handlers import HTTPRouteHandler

from litestar.response import ServerSentEvent, ServerSentEventMessage

from dashboards.api import ReadSide

POLL_SECONDS = 0.2
KEEPALIVE_SECONDS = 15.0
"""A comment line this often keeps proxies from closing an idle stream."""
RETRY_MS = 1000
"""How soon a browser reconnects after the stream drops (a web role restart, say)."""


class PositionFeed:
    """Fans the read model's position out to every listening page from a single poller."""

    def __init__(self, read: ReadSide, interval: float = POLL_SECONDS):
        self.read, self.interval = read, interval
        self.position: int | None = None
        self.listeners = 0
        self.changed: asyncio.Condition | None = None
        self.poller: asyncio.Task[None] | None = None

    def _read_position(self) -> int | None:
        try:
            return self.read.position()[1]
        except Exception:  # not built yet, or a store hiccup: say nothing rather than a wrong position
            return None

    async def _poll(self) -> None:
        assert self.changed is not None
        while self.listeners:
            # The query is blocking I/O (and a PostgreSQL connect when the version is re-checked).
            position = await anyio.to_thread.run_sync(self._read_position)
            if position is not None and position != self.position:
                self.position = position
                async with self.changed:
                    self.changed.notify_all()
            await asyncio.sleep(self.interval)
        self.poller = None  # no await since the check above: a new listener starts a new poller

    async def follow(self) -> AsyncIterator[ServerSentEventMessage]:
        """The current position at once, then each change; a keep-alive comment when idle."""
        if self.changed is None:
            self.changed = asyncio.Condition()
        self.listeners += 1
        if self.poller is None:
            self.poller = asyncio.create_task(self._poll())
        sent: int | None = None
        try:
            while True:
                async with self.changed:
                    try:
                        await asyncio.wait_for(self.changed.wait_for(lambda: self.position is not None and self.position != sent),
                                               KEEPALIVE_SECONDS)
                    except TimeoutError:
                        yield ServerSentEventMessage(comment="keep-alive")
                        continue
                    sent = self.position
                yield ServerSentEventMessage(event="position", data=json.dumps({"position": sent}), retry=RETRY_MS)
        finally:
            self.listeners -= 1


def event_stream(feed: PositionFeed) -> HTTPRouteHandler:
    @get("/api/events/stream", tags=["dashboards"], media_type="text/event-stream", summary="Server-sent events: `position` each time the read model applies new ledger events")
    async def stream() -> ServerSentEvent:
        return ServerSentEvent(feed.follow())

    return stream
