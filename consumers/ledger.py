"""The ledger consumer: CIVIC_INTAKE -> rules -> event store, refusals -> CIVIC_REJECTED.

A durable pull consumer, read in batches. For each batch: parse each subject into the event
type and org path the application takes, check the batch (application.ledger), publish
its refusals with acks, store its events and its last intake sequence in one transaction,
then ack and nudge the relay. A crash at any point is safe: before the commit the batch is
redelivered and its rejections republished under the same Nats-Msg-Id; after it, the stored
position makes the redelivered messages no-ops.

A batch the application fails on (an unexpected exception, not the store's or NATS's) is split
in halves, each processed on its own, down to the one message that fails; that one is tried
again up to application.ledger.MAX_DELIVERIES times, then set aside as `poison`. The good
messages around it are committed at once, not after redeliveries.

nats-py directly, not FastStream, for this one hot loop: FastStream 0.7.8's batch pull loop
catches nats.errors.TimeoutError while nats-py 2.16's fetch raises asyncio.TimeoutError when
idle, so its consume task errors and restarts every idle period; and its batch decoder parses
every body as JSON where the ledger needs the raw bytes and the stream sequence of each.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from datetime import datetime, timezone

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

from adapters.logs import RateLimited
from adapters.status import publish_status, read_status
from application.ledger import MAX_DELIVERIES, STORE_FAULTS, Incoming, Ledger, Rejection
from schemas import topology
from schemas.status import WriterStatus
from schemas.topology import INTAKE, INTAKE_SUBJECTS, LEDGER_CONSUMER, LEDGER_NUDGE, REJECTED

log = logging.getLogger("civic.ledger")
STORE_FAILURES_BEFORE_EXIT = 3
"""Consecutive batches failing on the store before the worker exits for a restart."""


class StoreFailing(Exception):
    """The event store keeps failing: exit and let the supervisor restart this role."""


def store_error_code(error: BaseException) -> str | None:
    """A short code for a store or disk error anywhere in the exception's chain, None for others."""
    seen: BaseException | None = error
    while seen is not None:
        text = str(seen).lower()
        if isinstance(seen, OSError) and seen.errno == errno.ENOSPC or "disk is full" in text or "no space" in text:
            return "disk_full"
        if "readonly" in text or "read-only" in text or isinstance(seen, OSError) and seen.errno == errno.EROFS:
            return "readonly"
        module = type(seen).__module__
        if module.startswith("psycopg") or "connection" in text and "refused" in text:
            return "unreachable"
        if module.startswith(("sqlite3", "eventsourcing")) or isinstance(seen, OSError):
            return "store"
        seen = seen.__cause__ or seen.__context__
    return None


RETRY_PAUSE = 0.05
"""Seconds before the first retry of a failing message alone; doubled each time (0.75 s in all)."""


def consumer_config(batch_size: int, after: int = 0) -> ConsumerConfig:
    """The durable consumer, starting after the ledger's stored position."""
    start = dict(deliver_policy=DeliverPolicy.BY_START_SEQUENCE, opt_start_seq=after + 1) if after else dict(deliver_policy=DeliverPolicy.ALL)
    return ConsumerConfig(
        # AckAll: the ledger takes intake strictly in order, so acking a batch's last message acks
        # the batch (one ack instead of a thousand).
        durable_name=LEDGER_CONSUMER, filter_subject=INTAKE_SUBJECTS, ack_policy=AckPolicy.ALL,
        **start, ack_wait=60.0, max_ack_pending=batch_size * 4, max_deliver=-1,
        max_waiting=16,
    )


def incoming(m: Msg, tries: int = 1) -> Incoming:
    """The plain values the ledger application takes from one intake message; `tries` counts the
    times it failed here alone, on top of NATS's deliveries."""
    event_type, org_path = topology.parse_intake_subject(m.subject)
    return Incoming(m.metadata.sequence.stream, event_type, org_path, m.data, max(m.metadata.num_delivered, tries))


def splittable(error: Exception) -> bool:
    """Whether a failed batch may be split to find one bad message: not when the store, the disk
    or NATS failed, which would fail every half alike."""
    return not isinstance(error, (*STORE_FAULTS, nats.errors.Error))


class LedgerWorker:
    def __init__(self, nc: nats.NATS, ledger: Ledger, batch_size: int = 1000):
        self.nc, self.js = nc, nc.jetstream()
        self.ledger = ledger
        self.batch_size = batch_size
        self.position = ledger.position()
        self.quiet = RateLimited(log, interval=10.0)
        self.status = WriterStatus(writer=topology.LEDGER_STATUS_KEY, pid=os.getpid(), started_at=time.time(), position=self.position)

    async def run(self, stop: asyncio.Event) -> None:
        destroyed = await asyncio.to_thread(self.ledger.reapply_erasures)
        if destroyed:
            log.warning("destroyed %d resident key(s) that erasures in the ledger had destroyed before "
                        "(a restored key backup?)", destroyed)
        log.info("ledger starts at intake position %d", self.position)
        await self._report_start()
        pull, fresh = None, True
        ahead: asyncio.Task[list[Msg]] | None = None
        try:
            while not stop.is_set():
                try:
                    if pull is None:
                        pull = await self._bind(fresh)
                        fresh = False
                    # Returns as soon as anything is pending (up to batch_size): batches grow with load.
                    msgs = await (ahead or pull.fetch(self.batch_size, timeout=1.0))
                except TimeoutError:  # idle; nats-py raises asyncio's or its own subclass
                    ahead = None
                    continue
                except nats.errors.Error as e:  # a server restarting, a cluster electing a leader: bind again
                    log.warning("intake unavailable (%s); retrying", e or type(e).__name__)
                    pull, ahead, fresh = None, None, fresh or isinstance(e, NotFoundError)  # the consumer itself is gone: make it anew
                    await asyncio.sleep(0.5)
                    continue
                # The next batch travels while this one is checked and stored: the round trip is
                # off the critical path. It is only read after this one settled, so the order of
                # processing stays the order of intake; a failure here naks this batch, and the
                # next one then starts past a hole and waits for the redelivery (_in_order).
                ahead = asyncio.ensure_future(pull.fetch(self.batch_size, timeout=1.0))
                await self.on_batch(msgs)
        finally:
            if ahead is not None:  # the batch fetched ahead is not wanted now: it comes again to the next worker
                ahead.cancel()
                # nats-py's fetch may end a cancelled wait in another error (ConnectionClosedError, as
                # the role stops and its connection closes), which nobody awaits: take it when it
                # ends, or asyncio logs it as a traceback ("Task exception was never retrieved").
                ahead.add_done_callback(lambda fetch: fetch.cancelled() or fetch.exception())

    async def _bind(self, fresh: bool) -> JetStreamContext.PullSubscription:
        """The store's position is the truth: at start the consumer is made anew from it, so
        messages a killed predecessor had fetched come again now, not after ack_wait."""
        if fresh:
            try:
                await self.js.delete_consumer(INTAKE, LEDGER_CONSUMER)
            except NotFoundError:
                pass
            await self.js.add_consumer(INTAKE, consumer_config(self.batch_size, self.position))
        return await self.js.pull_subscribe_bind(LEDGER_CONSUMER, INTAKE)

    async def on_batch(self, msgs: list[Msg]) -> None:
        msgs = sorted(msgs, key=lambda m: m.metadata.sequence.stream)
        try:
            ready, later = await self._in_order(msgs)
            if ready:
                await self._settle(ready)
        except Exception as e:
            log.exception("batch of %d failed; it will be redelivered", len(msgs))
            await asyncio.gather(*(m.nak(delay=1.0) for m in msgs if not m.is_acked), return_exceptions=True)
            await self._failed(e)
            return
        if ready:
            await ready[-1].ack()
        await asyncio.gather(*(m.nak(delay=0.2) for m in later))

    async def _in_order(self, msgs: list[Msg]) -> tuple[list[Msg], list[Msg]]:
        """The messages that continue the stored position without a hole, and the rest.

        A pull consumer can redeliver out of order (a fetch that expired with messages in
        flight); the tracking position is only meaningful if the ledger never skips one. A hole
        that intake no longer holds (aged out unread) is recorded as an IntakeGap event, which
        moves the position past it.
        """
        expected = self.position + 1
        ready: list[Msg] = []
        for i, m in enumerate(msgs):
            seq = m.metadata.sequence.stream
            if seq <= self.position:
                ready.append(m)  # already stored before a crash: acked without processing
            elif seq == expected:
                ready.append(m)
                expected += 1
            elif not ready or ready[-1].metadata.sequence.stream <= self.position:
                # The very next message is missing. Wait for it unless it aged out of intake.
                info = await self.js.stream_info(INTAKE)
                if info.state.first_seq <= expected:
                    self.quiet.warning("missing", "intake %d missing from this delivery; waiting for its redelivery", expected)
                    return ready, msgs[i:]
                log.error("intake %d..%d aged out before the ledger read them; recording IntakeGap", expected, seq - 1)
                self.position = await asyncio.to_thread(self.ledger.record_gap, expected, seq - 1, datetime.now(timezone.utc))
                await self.nc.publish(LEDGER_NUDGE, str(self.position).encode())
                ready.append(m)
                expected = seq + 1
            else:
                return ready, msgs[i:]
        return ready, []

    async def _settle(self, msgs: list[Msg]) -> None:
        """Process msgs; if the application fails on them, split them to find the bad one."""
        try:
            await self._process(msgs)
            return
        except Exception as e:
            if not splittable(e):
                raise
            if len(msgs) > 1:
                log.warning("batch of %d (intake %d..%d) failed (%s: %s); splitting it", len(msgs),
                            msgs[0].metadata.sequence.stream, msgs[-1].metadata.sequence.stream, type(e).__name__, e)
                half = len(msgs) // 2
                await self._settle(msgs[:half])
                await self._settle(msgs[half:])
                return
        await self._alone(msgs[0])

    async def _alone(self, msg: Msg) -> None:
        """One message that failed: try it again, counting, until it passes or the application
        sets it aside as poison (at MAX_DELIVERIES tries)."""
        pause = RETRY_PAUSE
        for tries in range(2, MAX_DELIVERIES + 1):
            await asyncio.sleep(pause)
            pause *= 2
            try:
                await self._process([msg], tries)
                return
            except Exception as e:
                if not splittable(e) or tries == MAX_DELIVERIES:
                    raise
                log.warning("intake %d failed again (try %d of %d): %s: %s", msg.metadata.sequence.stream, tries,
                            MAX_DELIVERIES, type(e).__name__, e)

    async def _process(self, msgs: list[Msg], tries: int = 1) -> None:
        batch = [incoming(m, tries) for m in msgs]
        subjects = {m.metadata.sequence.stream: m.subject for m in msgs}
        pending = await asyncio.to_thread(self.ledger.check, batch)
        try:
            await asyncio.gather(*(self._reject(r, subjects[r.message.sequence]) for r in pending.outcome.rejections))
        except BaseException:
            self.ledger.discard()
            raise
        outcome = await asyncio.to_thread(self.ledger.commit, pending)
        self.position = outcome.position
        await self._committed()
        if outcome.accepted:
            await self.nc.publish(LEDGER_NUDGE, str(outcome.position).encode())
        if outcome.rejections:
            log.info("rejected %d: %s", len(outcome.rejections), sorted({r.code for r in outcome.rejections}))

    async def _report_start(self) -> None:
        """Publish this worker's status; a store error reported before the restart stays until a commit.
        The bucket is the admin's to make (adapters.bus.ensure_bus), as the streams are."""
        before = await read_status(self.js, topology.LEDGER_STATUS_KEY)
        if before is not None and before.error is not None:
            self.status.error, self.status.error_at, self.status.failures = before.error, before.error_at, before.failures
        self.status.store_head = await asyncio.to_thread(self._store_head)
        await publish_status(self.nc, self.status)

    def _store_head(self) -> int | None:
        try:
            return self.ledger.recorder.max_notification_id() or 0
        except Exception:
            return None

    async def _committed(self) -> None:
        self.status.committed_at, self.status.position = time.time(), self.position
        self.status.error, self.status.error_at, self.status.failures = None, None, 0
        self.status.store_head = await asyncio.to_thread(self._store_head)
        await publish_status(self.nc, self.status)

    async def _failed(self, error: BaseException) -> None:
        """Report the failure; a store that fails batch after batch ends this process."""
        code = store_error_code(error)
        self.status.failures += 1
        if code is not None:
            self.status.error, self.status.error_at = code, time.time()
        await publish_status(self.nc, self.status)
        if code is not None and self.status.failures >= STORE_FAILURES_BEFORE_EXIT:
            try:
                await self.nc.flush(timeout=2)  # the report goes out before the process does
            except Exception:
                pass
            raise StoreFailing(f"the event store failed {self.status.failures} batches in a row ({code}); exiting for a restart")

    async def _reject(self, r: Rejection, subject: str) -> None:
        """Publish a refusal under the subject the producer used, whatever it was."""
        headers = {
            "Nats-Msg-Id": f"intake-{r.message.sequence}",
            topology.REASON_HEADER: r.code,
            topology.REASON_TEXT_HEADER: r.detail.replace("\r", " ").replace("\n", " ")[:1000],
            topology.INTAKE_SEQUENCE_HEADER: str(r.message.sequence),
            topology.INTAKE_SUBJECT_HEADER: subject,
        }
        if r.field:
            headers[topology.FIELD_HEADER] = r.field
        if r.event_id:
            headers[topology.EVENT_ID_HEADER] = r.event_id
        await self.js.publish(topology.rejected_subject(r.code, subject), r.message.data, headers=headers, stream=REJECTED)
