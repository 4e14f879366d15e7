"""Publishing events to CIVIC_INTAKE with JetStream acks and Nats-Msg-Id = event_id.

Retries with backoff while the server restarts or times out; a retried publish is stored once
(the stream's duplicate window, and the ledger's memory of applied event ids after that).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import nats
from nats.errors import ConnectionClosedError, NoRespondersError, TimeoutError as NatsTimeout
from nats.js.errors import APIError, ServiceUnavailableError

from consumers.streams import INTAKE, ensure_org_directory
from producers.directory import OrgDirectory, UnknownOrg
from schemas import DecodeFailure, decode
from schemas.base import Event
from schemas.ledger import intake_subject

RETRYABLE = (NatsTimeout, NoRespondersError, ServiceUnavailableError, ConnectionClosedError, asyncio.TimeoutError)


@dataclass(frozen=True)
class Result:
    """What became of one event at the producer: accepted into intake (with its sequence), or not."""

    event_id: str | None
    accepted: bool
    sequence: int | None = None
    duplicate: bool = False
    reason: str | None = None
    field: str | None = None

    def line(self) -> str:
        if self.accepted:
            dup = " (duplicate, already in intake)" if self.duplicate else ""
            return f"accepted {self.event_id} -> intake #{self.sequence}{dup}"
        where = f" at {self.field}" if self.field else ""
        return f"refused  {self.event_id or '?'}: {self.reason}{where}"


class Publisher:
    def __init__(self, nc: nats.NATS, directory: OrgDirectory, attempts: int = 8, timeout: float = 5.0):
        self.nc, self.js = nc, nc.jetstream(timeout=timeout)
        self.directory = directory
        self.attempts = attempts

    @classmethod
    async def connect(cls, url: str) -> Publisher:
        nc = await nats.connect(url, max_reconnect_attempts=-1, reconnect_time_wait=0.5, name="civic-producer")
        js = nc.jetstream()
        return cls(nc, OrgDirectory(await ensure_org_directory(js)))

    async def close(self) -> None:
        await self.nc.drain()

    async def publish_bytes(self, data: bytes) -> Result:
        """Validate locally, then publish the bytes exactly as given."""
        try:
            event = decode(data)
        except DecodeFailure as e:
            return Result(None, False, reason=f"{e.code}: {e.detail}", field=e.field)
        return await self._publish(event, data)

    async def publish(self, event: Event) -> Result:
        from schemas import encode

        return await self._publish(event, encode(event))

    async def _publish(self, event: Event, data: bytes) -> Result:
        try:
            path = await self.directory.path(event)
        except UnknownOrg as e:
            return Result(event.event_id, False, reason=f"unknown_org: {e}")
        delay = 0.2
        for attempt in range(1, self.attempts + 1):
            try:
                ack = await self.js.publish(intake_subject(event, path), data, stream=INTAKE,
                                            headers={"Nats-Msg-Id": event.event_id})
                self.directory.learn(event)
                return Result(event.event_id, True, ack.seq, bool(ack.duplicate))
            except RETRYABLE:
                if attempt == self.attempts:
                    raise
            except APIError as e:
                return Result(event.event_id, False, reason=f"nats: {e.description}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")
