"""The producer SDK: events into CIVIC_INTAKE, acked, in order, retried, and spooled to disk
while NATS is away.

    producer = await Producer.connect(url, spool_path="intake.spool", credentials="producer-hotline-12345.nk")
    result = await producer.publish(event)            # one event
    results = await producer.publish_many(events)     # many, up to max_in_flight unacked at once
    await producer.flush()                            # until anything spooled has been acked
    await producer.close()

What it promises (docs/producers.md):
- Each event is checked locally first (encoded and decoded through schemas.decode) and sent on
  `civic.intake.<type>.<org path>` with Nats-Msg-Id = event_id; a Result says what became of it.
- Order: events are stored in intake in the order given, across calls, even across a NATS restart:
  after any failure it resends from the first unacked event (the ones stored already are dropped
  as duplicates by Nats-Msg-Id) and drops what nats-py buffered for the dead connection.
- Retries: timeouts, no responders and server restarts are retried with exponential backoff for
  up to `retry_for` seconds without progress; then the rest is spooled (or PublishFailed raised).
- Credentials: the NATS nkey seed file `civic producer add SYSTEM --org ID` issued
  (`credentials=`, or CIVIC_NATS_CREDS); keep its name, producer-SYSTEM.nk: the identity it
  names is the one inbox the server lets it read replies on. `tls_ca=` for a tls:// server.
- Spool: with a spool_path, events published while NATS is unreachable (or after retries ran out)
  are appended to a durable file and sent in order by a background task once NATS is back, before
  any newer event. See producers/spool.py for why a crash loses nothing and stores nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.js import errors as js_errors

from adapters.bus import credential_options, ensure_org_directory
from adapters.compat import drop_unsent
from config import nats_credentials_from_env
from producers.directory import OrgDirectory, UnknownOrg
from producers.outcome import CONNECT_ERRORS, RETRYABLE, Checked, ConnectionLost, PublishFailed, Result, check
from producers.spool import Spool, Spooled
from schemas import DecodeFailure, decode
from schemas.base import Event
from schemas.families import PARENT_FIELD
from schemas.topology import intake_subject, parse_intake_subject

__all__ = ["Checked", "Producer", "PublishFailed", "Result", "SyncProducer", "check"]

log = logging.getLogger("civic.producer")

Publishable = Event | bytes | Checked
"""An event, an event's JSON bytes (sent verbatim once they decode), or a checked event."""
OnAck = Callable[[int], None]


@dataclass(slots=True)
class _Item:
    index: int
    """Where its Result goes."""
    event_id: str
    subject: str
    data: bytes


class _Stalled(Exception):
    def __init__(self, acked: int, cause: BaseException):
        super().__init__(f"{acked} acked, then {cause!r}")
        self.acked, self.cause = acked, cause


class Producer:
    """Publishes events to CIVIC_INTAKE. One instance per event loop; calls are serialised, so
    concurrent calls keep the order in which they were made."""

    def __init__(self, url: str, spool: Spool | None = None, *, max_in_flight: int = 1000, ack_timeout: float = 5.0,
                 retry_for: float = 30.0, connect_timeout: float = 2.0, name: str = "civic-producer",
                 drain_chunk: int = 2000, org_grace: float = 3.0, credentials: str | Path | None = None,
                 tls_ca: str | Path | None = None):
        self.url, self.spool, self.name = url, spool, name
        self.credentials = credentials if credentials is not None else nats_credentials_from_env()
        """The nkey seed file (docs/producers.md); None: a server without authorization."""
        self.tls_ca = tls_ca
        self.org_grace = org_grace
        self._unknown: dict[str, float] = {}
        """org_id -> until when it is refused without waiting (it was missing after a grace)."""
        self.drain_chunk = drain_chunk
        """Spooled lines sent per step; the acked offset is recorded (fsync) after each step."""
        self.max_in_flight, self.ack_timeout, self.retry_for = max_in_flight, ack_timeout, retry_for
        self.connect_timeout = connect_timeout
        self.nc: nats.NATS | None = None
        self.js: Any = None
        self.directory = OrgDirectory()
        self._lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._spooled = asyncio.Event()
        self._drained = asyncio.Event()
        self._inflight: deque[tuple[int, asyncio.Future]] = deque()
        self._tasks: set[asyncio.Task] = set()
        self._closing = False
        if spool is None or not spool.pending:
            self._drained.set()

    @classmethod
    async def connect(cls, url: str, spool_path: str | Path | None = None, **options: Any) -> Producer:
        """Connect to NATS. With a spool, an unreachable server is not an error: events are
        spooled and the producer keeps trying to connect in the background."""
        producer = cls(url, Spool(spool_path) if spool_path else None, **options)
        try:
            await producer._open()
        except CONNECT_ERRORS as e:
            if producer.spool is None:
                raise
            log.warning("NATS at %s unreachable (%s); spooling to %s until it is back", url, e, spool_path)
            producer._background(producer._keep_connecting())
        if producer.spool is not None:
            producer._background(producer._drain_spool())
        return producer

    async def __aenter__(self) -> Producer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- publishing -------------------------------------------------------------------------

    async def publish(self, event: Publishable) -> Result:
        result = (await self.publish_many([event]))[0]
        assert result is not None
        return result

    async def publish_many(self, events: Sequence[Publishable], *, max_in_flight: int | None = None,
                           on_ack: OnAck | None = None) -> list[Result]:
        """Publish in order with up to `max_in_flight` unacked; one Result per event, in order.
        `on_ack(n)` is called as acks come in (n newly acked), e.g. to move a progress bar."""
        results: list[Result | None] = [None] * len(events)
        checked = []
        for i, item in enumerate(events):
            outcome = item if isinstance(item, Checked) else check(item)
            if isinstance(outcome, Result):
                results[i] = outcome
            else:
                checked.append((i, outcome.event, outcome.data))
        async with self._lock:
            offline = self.spool is not None and (self.spool.pending > 0 or not self._connected.is_set())
            items, unresolved = await self._route(checked, results, offline)
            if offline or unresolved:
                sent = 0
            else:
                sent = await self._send(items, results, on_ack, self.retry_for, max_in_flight or self.max_in_flight)
            if sent < len(items) or unresolved:
                if self.spool is None:
                    raise PublishFailed(f"NATS at {self.url} unreachable for {self.retry_for:.0f}s; "
                                        f"{len(items) - sent} events not sent", results)
                self._to_spool([(it.index, it.event_id, it.subject, it.data) for it in items[sent:]] + unresolved, results)
        done = [r for r in results if r is not None]
        assert len(done) == len(results)  # checked, sent or spooled: each has its result by now
        return done


    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything spooled has been acked; False on timeout."""
        try:
            await asyncio.wait_for(self._drained.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    @property
    def spooled(self) -> int:
        """Events in the spool not yet acked."""
        return self.spool.pending if self.spool else 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def close(self) -> None:
        """Stop; anything still spooled stays on disk and is sent by the next producer on it."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.nc is not None and not self.nc.is_closed:
            await self.nc.close()
        if self.spool is not None:
            self.spool.close()

    # -- routing: the subject of each event --------------------------------------------------

    async def _route(self, checked: list[tuple[int, Event, bytes]], results: list[Result | None],
                     offline: bool) -> tuple[list[_Item], list[tuple[int, str, str | None, bytes]]]:
        """Subjects for the checked events. Offline, or once NATS fails mid-way, the remaining
        events go unresolved (subject None): the spool resolves them when they are sent."""
        items: list[_Item] = []
        unresolved: list[tuple[int, str, str | None, bytes]] = []
        for i, event, data in checked:
            if offline or unresolved:
                try:
                    subject = intake_subject(event, await self.directory.path(event, local_only=True))
                except UnknownOrg:
                    subject = None
                unresolved.append((i, event.event_id, subject, data))
                self.directory.learn(event)
                continue
            try:
                path = await self._path(event)
            except UnknownOrg as e:
                results[i] = Result(event.event_id, False, reason=f"unknown_org: {e}", field=e.field)
                continue
            except RETRYABLE as e:
                if self.spool is None:
                    raise PublishFailed(f"org directory unreachable at {self.url}: {e!r}", results) from e
                unresolved.append((i, event.event_id, None, data))
                continue
            items.append(_Item(i, event.event_id, intake_subject(event, path), data))
            self.directory.learn(event)
        return items, unresolved

    async def _path(self, event: Event) -> tuple[str, ...]:
        """The org path, asking the CIVIC_ORGS bucket when it is not known here, with retries.

        A unit missing from the bucket gets `org_grace` seconds to appear: the relay writes it
        only once the ledger has accepted the registration, which another producer may have sent
        a moment ago. A unit still missing is refused at once for the next minute.
        """
        delay, deadline = 0.05, time.monotonic() + self.retry_for
        grace_until: float | None = None
        while True:
            try:
                return await self.directory.path(event)
            except RETRYABLE:
                if time.monotonic() > deadline:
                    raise
            except UnknownOrg as e:
                now = time.monotonic()
                if self._unknown.get(e.org_id, 0.0) > now:
                    raise
                grace_until = grace_until or now + self.org_grace
                if now > grace_until:
                    self._unknown[e.org_id] = now + 60.0
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    # -- sending -----------------------------------------------------------------------------

    async def _send(self, items: list[_Item], results: list[Result | None], on_ack: OnAck | None,
                    patience: float, window: int) -> int:
        """Send in order until all are acked or `patience` seconds pass without progress;
        returns how many (from the start) were acked or refused by the server."""
        done, delay, stalled_since = 0, 0.05, None
        probe = False
        while done < len(items):
            start = done
            try:
                done = await self._window(items, done, results, on_ack, 1 if probe else window, window)
            except _Stalled as stall:
                done = stall.acked
                log.warning("publish stalled after %d of %d events (%s); resending from the first unacked",
                            done, len(items), type(stall.cause).__name__)
            if done == len(items):
                break
            if done > start:
                stalled_since, delay = None, 0.05
            stalled_since = stalled_since or time.monotonic()
            left = patience - (time.monotonic() - stalled_since)
            if left <= 0:
                return done
            if not self._connected.is_set():
                try:
                    await asyncio.wait_for(self._connected.wait(), left)
                except asyncio.TimeoutError:
                    return done
            await asyncio.sleep(min(delay, max(left, 0)))
            delay = min(delay * 2, 5.0)
            # One event alone first: once it is acked JetStream is storing again, so a message
            # refused with "no responders" cannot be overtaken by a later one of the same window.
            probe = True
        return done

    async def _window(self, items: list[_Item], start: int, results: list[Result | None], on_ack: OnAck | None,
                      limit: int, window: int) -> int:
        js, inflight = self.js, self._inflight
        i = acked = start
        fresh = 0
        try:
            while acked < len(items):
                while i < len(items) and len(inflight) < limit:
                    item = items[i]
                    inflight.append((i, await js.publish_async(item.subject, item.data, headers={"Nats-Msg-Id": item.event_id})))
                    i += 1
                _, future = inflight[0]
                if not future.done():
                    await asyncio.wait_for(future, self.ack_timeout)
                inflight.popleft()
                item = items[acked]
                try:
                    ack = future.result()
                    results[item.index] = Result(item.event_id, True, ack.seq, bool(ack.duplicate))
                except js_errors.APIError as e:
                    if isinstance(e, RETRYABLE) or (e.code or 0) >= 500:
                        raise
                    results[item.index] = Result(item.event_id, False, reason=f"nats: {e.description}")
                acked += 1
                limit = window
                fresh += 1
                if on_ack is not None and (fresh >= 256 or acked == len(items)):
                    on_ack(fresh)
                    fresh = 0
        except (*RETRYABLE, js_errors.APIError, js_errors.TooManyStalledMsgsError) as e:
            raise _Stalled(acked, e) from None
        finally:
            if on_ack is not None and fresh:
                on_ack(fresh)
            # Whatever is still in flight will be resent from `acked` on: forget it.
            while inflight:
                _, future = inflight.popleft()
                if not future.done():
                    future.cancel()
                elif not future.cancelled():
                    future.exception()  # retrieved, so asyncio does not warn about it
        return acked

    # -- the spool ---------------------------------------------------------------------------

    def _to_spool(self, lines: list[tuple[int, str, str | None, bytes]], results: list[Result | None]) -> None:
        assert self.spool is not None
        lines.sort(key=lambda line: line[0])
        self.spool.append([(event_id, subject, data) for _, event_id, subject, data in lines])
        for index, event_id, _, _ in lines:
            results[index] = Result(event_id, False, spooled=True)
        self._drained.clear()
        self._spooled.set()

    async def _drain_spool(self) -> None:
        """Send spooled lines, oldest first, whenever NATS is there; mark them acked per chunk."""
        assert self.spool is not None
        spool, delay = self.spool, 0.2
        while not self._closing:
            if not spool.pending:
                self._drained.set()
                self._spooled.clear()
                await self._spooled.wait()
                continue
            await self._connected.wait()
            async with self._lock:
                lines = spool.peek(self.drain_chunk)
                done = await self._send_spooled(lines)
                spool.ack(lines[:done])
            if done:
                log.info("sent %d spooled events; %d left", done, spool.pending)
                delay = 0.2
            else:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _send_spooled(self, lines: list[Spooled]) -> int:
        """Send lines in order; returns how many from the start are done (acked or set aside)."""
        items: list[_Item] = []
        set_aside: dict[int, str] = {}
        for n, line in enumerate(lines):
            subject = line.subject
            try:
                if subject is None:
                    event = decode(line.data)
                    subject = intake_subject(event, await self._path(event))
                    self.directory.learn(event)
                elif parse_intake_subject(subject)[0] in PARENT_FIELD:  # a producer restarted on this spool learns the tree
                    self.directory.learn(decode(line.data))
            except (UnknownOrg, DecodeFailure) as e:
                set_aside[n] = f"unknown_org: {e}" if isinstance(e, UnknownOrg) else str(e)
                continue
            except RETRYABLE:
                lines = lines[:n]
                break
            items.append(_Item(n, line.event_id, subject, line.data))
        results: list[Result | None] = [None] * len(lines)
        sent = await self._send(items, results, None, min(self.retry_for, 5.0), self.max_in_flight)
        done = items[sent].index if sent < len(items) else len(lines)
        for n, result in enumerate(results[:done]):
            if result is not None and not result.accepted:
                set_aside[n] = result.reason or "refused"
        refused = [(lines[n], reason) for n, reason in sorted(set_aside.items()) if n < done]
        for line, reason in refused:
            log.error("spooled event %s can never be sent: %s", line.event_id, reason)
        assert self.spool is not None
        self.spool.set_aside(refused)
        return done

    # -- the connection ----------------------------------------------------------------------

    async def _open(self) -> None:
        nc = await nats.connect(
            self.url, **credential_options(self.url.split(","), self.credentials, self.tls_ca), name=self.name, connect_timeout=self.connect_timeout, reconnect_time_wait=0.25,
            max_reconnect_attempts=1,  # bounded for this first connect; unlimited once connected (below)
            pending_size=0,  # no buffering while reconnecting: we resend ourselves, in order
            disconnected_cb=self._on_disconnect, reconnected_cb=self._on_reconnect, error_cb=self._on_error)
        nc.options["max_reconnect_attempts"] = -1
        self.nc = nc
        self.js = nc.jetstream(timeout=self.ack_timeout, publish_async_max_pending=1 << 20)  # our window bounds it
        self.directory.kv = await ensure_org_directory(self.js)
        self._connected.set()

    async def _keep_connecting(self) -> None:
        delay = 0.2
        while not self._closing:
            try:
                await self._open()
                log.info("connected to NATS at %s", self.url)
                return
            except CONNECT_ERRORS:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _on_disconnect(self) -> None:
        self._connected.clear()
        if self.nc is not None:
            # What nats-py still buffers for the dead connection would be flushed after the
            # reconnect, ahead of the resend of the earlier, lost messages: out of order. Drop it.
            drop_unsent(self.nc)
        for _, future in self._inflight:
            if not future.done():
                future.set_exception(ConnectionLost())

    async def _on_reconnect(self) -> None:
        log.info("reconnected to NATS")
        self._connected.set()

    async def _on_error(self, e: Exception) -> None:
        log.debug("nats: %r", e)

    def _background(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


class SyncProducer:
    """The same producer for code without an event loop: runs one in a private thread.

        with SyncProducer(url, spool_path="intake.spool") as producer:
            producer.publish(event)
    """

    def __init__(self, url: str, spool_path: str | Path | None = None, **options: Any):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="civic-producer", daemon=True)
        self._thread.start()
        try:
            self._producer: Producer = self._call(Producer.connect(url, spool_path, **options))
        except BaseException:
            self._stop_loop()
            raise

    def _call(self, coro: Any, timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def publish(self, event: Publishable) -> Result:
        return self._call(self._producer.publish(event))

    def publish_many(self, events: Sequence[Publishable], *, max_in_flight: int | None = None,
                     on_ack: OnAck | None = None) -> list[Result]:
        """on_ack runs on the producer's thread."""
        return self._call(self._producer.publish_many(events, max_in_flight=max_in_flight, on_ack=on_ack))

    def flush(self, timeout: float | None = None) -> bool:
        return self._call(self._producer.flush(timeout))

    @property
    def spooled(self) -> int:
        return self._producer.spooled

    def close(self) -> None:
        if self._loop.is_running():
            try:
                self._call(self._producer.close(), timeout=30)
            finally:
                self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> SyncProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
