"""The ledger's verdict on events a producer has just put into intake: accepted at a position, or
refused with a reason; `civic emit` and `civic import` wait for it.

An intake ack says only that the event is stored in CIVIC_INTAKE; the ledger decides later. The
verdict comes from where the ledger writes it, in its own order:
- the ledger publishes each refusal to CIVIC_REJECTED (headers: intake sequence, reason, field)
  BEFORE the commit that moves its position past that sequence;
- after each commit it publishes its status (schemas/status.py: `position`, the last intake
  sequence decided) on the CIVIC_STATUS key's subject;
- the relay then publishes each accepted event to CIVIC_LEDGER (header: its event id), whose
  stream sequence is its ledger position.
So an event at intake sequence s is refused if CIVIC_REJECTED holds a refusal of s; else, once the
ledger's position has passed s and CIVIC_REJECTED has been read up to where it stood then, it was
accepted (or was a silent duplicate of an accepted event), at the position where CIVIC_LEDGER
has its id. What happened before the reader started is in the event index
(projections/event_index.py): it answers up to its own positions, and the reader follows both
streams, headers only, from there on, so nothing falls between the two. Nothing is polled: three
subscriptions wake the reader.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from adapters.status import read_status
from projections import event_index
from projections.event_index import Known, Refusal
from projections.follow import follow
from projections.store import Versions
from schemas import rejected as rj
from schemas import status as wire
from schemas import topology

IndexReader = Callable[[list[str], list[int]], Known | None]
"""What the event index knew about (event ids, intake sequences); None: no index to ask."""


@dataclass(frozen=True)
class Verdict:
    event_id: str
    intake_sequence: int
    status: str
    """accepted, refused, or pending (no verdict before the wait ended)."""
    position: int | None = None
    """The ledger position, once accepted."""
    reason: str | None = None
    field: str | None = None
    detail: str | None = None

    def line(self, mask: Callable[[str | None], str | None] = lambda text: text) -> str:
        if self.status == "accepted":
            return f"accepted {self.event_id} at position {self.position}"
        if self.status == "pending":
            return f"pending  {self.event_id}: in intake at #{self.intake_sequence}, no verdict from the ledger yet"
        sentence = rj.REASONS[self.reason].sentence if self.reason in rj.REASONS else ""
        at = f" ({self.field})" if self.field else ""
        detail = mask(self.detail)
        more = f" [{detail}]" if detail and detail != sentence else ""
        return f"refused  {self.event_id}: {self.reason}{at}: {sentence}{more}"


@dataclass
class _Watch:
    """What has been heard, and the verdicts reached so far. The callbacks only record; the
    waiting loop decides, each event once, walking the events in intake order as the ledger's
    position passes them (so a wait on a million events stays linear)."""

    wanted: dict[str, int]
    """event_id -> its intake sequence."""
    accepted: dict[str, int] = field(default_factory=dict)
    """event_id -> ledger position, for the wanted ones heard of."""
    refused: dict[int, Refusal] = field(default_factory=dict)
    """intake sequence -> its refusal, for the wanted ones heard of."""
    decided: int = 0
    """The ledger's position: every intake sequence up to it has its verdict."""
    rejected_read: int = 0
    """CIVIC_REJECTED read up to this stream sequence."""
    marks: list[tuple[int, int]] = field(default_factory=list)
    """(ledger position, CIVIC_REJECTED's last sequence when that position was seen), oldest first."""
    final: int = 0
    """Sequences up to here are decided and their refusals, if any, read."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    heard: list[str] = field(default_factory=list)
    """Event ids accepted or refused since the loop last looked."""
    by_sequence: list[tuple[int, str]] = field(default_factory=list)
    next: int = 0
    """by_sequence[:next] have been looked at once `final` passed them."""
    relaying: set[str] = field(default_factory=set)
    """Decided without a refusal, not yet heard of in CIVIC_LEDGER (the relay lags the commit)."""

    def __post_init__(self) -> None:
        self.by_sequence = sorted((seq, event_id) for event_id, seq in self.wanted.items())

    def settle(self) -> None:
        """Decide what can be decided now."""
        while self.marks and self.marks[0][1] <= self.rejected_read:
            self.final = max(self.final, self.marks.pop(0)[0])
        for event_id in self.heard:
            if event_id not in self.verdicts and (self._refused(event_id) or event_id in self.relaying):
                self._decide(event_id)
        self.heard.clear()
        while self.next < len(self.by_sequence) and self.by_sequence[self.next][0] <= self.final:
            _, event_id = self.by_sequence[self.next]
            self.next += 1
            if event_id not in self.verdicts:
                if self._refused(event_id) or event_id in self.accepted:
                    self._decide(event_id)
                else:
                    self.relaying.add(event_id)

    def _refused(self, event_id: str) -> bool:
        return self.wanted[event_id] in self.refused

    def _decide(self, event_id: str) -> None:
        seq = self.wanted[event_id]
        refusal = self.refused.get(seq)
        if refusal is not None:
            self.verdicts[event_id] = Verdict(event_id, seq, "refused", reason=refusal.reason, field=refusal.field,
                                              detail=refusal.detail)
        else:
            self.verdicts[event_id] = Verdict(event_id, seq, "accepted", self.accepted[event_id])
        self.relaying.discard(event_id)

    def verdict(self, event_id: str) -> Verdict:
        return self.verdicts.get(event_id) or Verdict(event_id, self.wanted[event_id], "pending")


async def await_verdicts(nc: nats.NATS, js: JetStreamContext, sent: list[tuple[str, int]], index: IndexReader,
                         timeout: float) -> list[Verdict]:
    """The verdict on each (event_id, intake sequence), in order; those still undecided once
    `timeout` seconds pass without a new verdict (the ledger stopped or fell far behind) are
    `pending`."""
    if not sent:
        return []
    watch = _Watch(dict(sent))
    status_sub = await nc.subscribe(topology.status_subject(topology.LEDGER_STATUS_KEY), cb=_on_status(watch))
    readers: list[asyncio.Task[None]] = []
    stop = asyncio.Event()
    try:
        before = await read_status(js, topology.LEDGER_STATUS_KEY)
        watch.decided = max(watch.decided, before.position if before else 0)
        known = await asyncio.to_thread(index, list(watch.wanted), sorted(set(watch.wanted.values())))
        if known is not None:
            watch.accepted.update({e: p for e, p in known.accepted.items() if e in watch.wanted})
            watch.refused.update(known.refused)
            watch.heard.extend(watch.accepted)
            watch.heard.extend(e for e, seq in watch.wanted.items() if seq in known.refused)
        ledger_from, rejected_from = (known.ledger_position, known.rejected_position) if known else (0, 0)
        watch.rejected_read = rejected_from
        readers = [asyncio.create_task(_read(js, topology.LEDGER, topology.LEDGER_SUBJECTS, ledger_from, _on_ledger(watch), watch.wake, stop)),
                   asyncio.create_task(_read(js, topology.REJECTED, topology.REJECTED_SUBJECTS, rejected_from, _on_rejected(watch), watch.wake, stop))]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        marked, progress = -1, 0
        while True:
            watch.wake.clear()  # before looking: a wake-up while we look is not lost
            if watch.decided > marked:  # where CIVIC_REJECTED stood once the ledger had decided this far
                marked = watch.decided
                state = (await js.stream_info(topology.REJECTED)).state
                watch.marks.append((marked, state.last_seq if state.messages else 0))
            watch.settle()
            if len(watch.verdicts) > progress:
                progress, deadline = len(watch.verdicts), loop.time() + timeout
            left = deadline - loop.time()
            if len(watch.verdicts) == len(watch.wanted) or left <= 0:
                return [watch.verdict(event_id) for event_id, _ in sent]
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(watch.wake.wait(), left)
            for task in readers:
                if task.done() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
    finally:
        # The readers stop at their next batch (follow() yields one at least every idle half
        # second). Cancelling them instead is not enough on Python 3.11: asyncio.wait_for may
        # swallow a cancellation that comes as its wait completes (bpo-42130), and a reader that
        # missed it would read on and hold this wait (and the command) forever.
        stop.set()
        if readers:
            _, late = await asyncio.wait(readers, timeout=10)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=5)
        with contextlib.suppress(Exception):
            await status_sub.unsubscribe()


def _on_status(watch: _Watch) -> Callable[[Msg], Awaitable[None]]:
    async def seen(msg: Msg) -> None:
        try:
            position = wire.decode(msg.data).position
        except Exception:  # a report this reader cannot read tells it nothing
            return
        if position > watch.decided:
            watch.decided = position
            watch.wake.set()
    return seen


def _on_ledger(watch: _Watch) -> Callable[[Msg], None]:
    def seen(m: Msg) -> None:
        event_id = (m.headers or {}).get(topology.EVENT_ID_HEADER)
        if event_id in watch.wanted and event_id not in watch.accepted:
            watch.accepted[event_id] = m.metadata.sequence.stream
            watch.heard.append(event_id)
    return seen


def _on_rejected(watch: _Watch) -> Callable[[Msg], None]:
    ids_at: dict[int, list[str]] = {}
    for event_id, seq in watch.wanted.items():
        ids_at.setdefault(seq, []).append(event_id)

    def seen(m: Msg) -> None:
        h = m.headers or {}
        seq = int(h.get(topology.INTAKE_SEQUENCE_HEADER, "0"))
        if seq in ids_at:
            watch.heard.extend(ids_at[seq])
            reason = h.get(topology.REASON_HEADER, "")
            watch.refused[seq] = Refusal(intake_sequence=seq, event_id=h.get(topology.EVENT_ID_HEADER), reason=reason,
                                         sentence=rj.REASONS[reason].sentence if reason in rj.REASONS else reason,
                                         field=h.get(topology.FIELD_HEADER), detail=h.get(topology.REASON_TEXT_HEADER),
                                         org_path=[], at=None,
                                         resend_may_help=rj.REASONS[reason].resend_may_help if reason in rj.REASONS else False)
        watch.rejected_read = max(watch.rejected_read, m.metadata.sequence.stream)
    return seen


async def _read(js: JetStreamContext, stream: str, subject: str, after: int, seen: Callable[[Msg], None],
                wake: asyncio.Event, stop: asyncio.Event) -> None:
    """Follow a stream's headers (never the bodies: a refusal's body is the producer's event with
    any personal data in clear) from `after` on, telling `seen` of each message, until `stop`."""
    reader = follow(js, after, 1000, idle=0.5, stream=stream, subject=subject, headers_only=True, push=True, contiguous=False)
    try:
        async for msgs in reader:
            if stop.is_set():
                return
            for m in msgs:
                seen(m)
            if msgs:
                wake.set()
    finally:
        await reader.aclose()


def index_reader(data_dir: Path, database_url: str | None) -> IndexReader:
    """The event index of a data folder (or PostgreSQL), read-only; None while none is built."""
    def read(event_ids: list[str], sequences: list[int]) -> Known | None:
        with Versions(event_index.NAME, data_dir, database_url) as versions:
            version = versions.current()
        if version is None:
            return None
        db = versions.open(version, readonly=True)
        try:
            return event_index.known(db, event_ids, sequences)
        finally:
            db.close()
    return read
