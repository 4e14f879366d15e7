"""`civic audit verify`: walk the whole ledger and prove it is what was written.

Checks: positions contiguous from 1 and equal to the Civic-Position header; the hash chain
recomputed from the bytes (schemas/ledger.py); every event decodes against the contract and sits
on the subject its type and org path name; given the event store, that the store and the stream
hold the same bytes in the same order; given signed checkpoints (audit/checkpoint.py), that the
chain still passes through every checkpointed hash, so a ledger rewritten and re-chained from an
edited event on, in the store and the stream together, is caught too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field

from eventsourcing.persistence import ApplicationRecorder

from schemas import DecodeFailure, decode

from schemas import ledger as wire
from schemas import topology
from audit.reader import LedgerMessage


@dataclass(frozen=True)
class Fault:
    position: int
    problem: str

    def __str__(self) -> str:
        return f"position {self.position}: {self.problem}"


@dataclass
class Report:
    events: int = 0
    faults: list[Fault] = field(default_factory=list)
    head: bytes = wire.GENESIS
    position: int = 0
    """The last position walked."""
    unrelayed: int = 0
    """Events in the store that the relay has not yet published (normal while it catches up)."""
    anchors: int = 0
    """Checkpoints the walk passed through with the checkpointed hash."""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.faults

    def summary(self) -> str:
        notes = "".join(f"note: {n}\n" for n in self.notes)
        return notes + self._verdict()

    def _verdict(self) -> str:
        if self.ok:
            lag = f" ({self.unrelayed} more in the store, not yet relayed)" if self.unrelayed else ""
            anchored = f"; extends {self.anchors} signed checkpoint(s)" if self.anchors else ""
            return f"ledger ok: {self.events} events, head {self.head.hex()}{anchored}{lag}"
        return "\n".join(str(f) for f in self.faults) + f"\nledger FAULTY: {len(self.faults)} fault(s) in {self.events} events"


@dataclass(frozen=True)
class Anchor:
    """A hash the chain must have at a position: a signed checkpoint's (position, hash)."""

    position: int
    hash: str
    label: str


async def verify(messages: AsyncIterator[LedgerMessage], stored: Iterator[tuple[int, bytes]] | None = None,
                 max_faults: int = 100, anchors: Sequence[Anchor] = (), start: int = 1,
                 previous: bytes = wire.GENESIS) -> Report:
    """Check ledger messages in stream order from `start` (whose predecessor's hash is `previous`).

    `stored` yields the event store's (notification id, state) in order; each message is matched
    with the notification its Civic-Notification-Id names, so an event dropped from either side
    is reported once, where it is missing, and the rest still line up.
    """
    report = Report(position=start - 1)
    expected, chain, offset = start, previous, 0
    due = sorted((a for a in anchors if a.position >= start), key=lambda a: a.position)
    store = _Aligned(stored) if stored is not None else None
    async for m in messages:
        report.events += 1
        faults: list[Fault] = []
        here = lambda problem: faults.append(Fault(m.position, problem))  # noqa: E731
        if m.position != expected:
            gap = str(expected) if m.position == expected + 1 else f"{expected} to {m.position - 1}"
            faults.append(Fault(expected, f"missing: the stream goes from position {expected - 1} to {m.position} "
                                          f"(position {gap} deleted)"))
        # The position the relay chained this event at; the chain is recomputed with it so that one
        # dropped or moved event is reported where it happened, not again at every later position.
        chained = _header_position(m)
        if chained is None:
            here(f"{topology.POSITION_HEADER} header is {m.headers.get(topology.POSITION_HEADER)!r}, not a position")
            chained = m.position + offset
        elif chained - m.position != offset:
            offset = chained - m.position
            if offset > 0:
                here(f"holds the event chained at position {chained}: the one chained at {m.position} is missing "
                     f"(dropped, or moved later)")
            elif offset < 0:
                here(f"holds the event chained at position {chained}: it was moved after later events (reordered)")
        chain = wire.chain_hash(chain, chained, m.data)
        if m.headers.get(topology.HASH_HEADER) != chain.hex():
            here("hash chain broken: the bytes or an earlier event differ from what was chained")
            recorded = m.headers.get(topology.HASH_HEADER, "")
            chain = bytes.fromhex(recorded) if len(recorded) == 64 else chain  # report each break once
        while due and due[0].position <= chained:
            problem = _anchor_problem(due.pop(0), chained, chain)
            if problem:
                here(problem)
            else:
                report.anchors += 1
        try:
            event = decode(m.data, max_bytes=None)
            if m.subject != topology.ledger_subject(event.type, event.org_path):
                here(f"subject {m.subject} does not name the event's type and org path")
        except DecodeFailure as e:
            here(f"does not decode ({e.code}: {e.detail})")
        if store is not None:
            for problem in store.compare(m):
                here(problem)
        report.faults += faults
        report.position = m.position
        if len(report.faults) >= max_faults:
            break
        expected = m.position + 1
    report.head = chain
    for anchor in due:
        report.faults.append(Fault(anchor.position, f"the ledger ends at {report.position}, before the checkpoint "
                                                    f"{anchor.label} (events after it were removed)"))
    if store is not None:
        report.unrelayed = store.remaining()
    return report


def _anchor_problem(anchor: Anchor, position: int, chain: bytes) -> str | None:
    """Why the chain, at `position` with hash `chain`, does not pass through the anchor (None if it does)."""
    if anchor.position != position:
        return f"the checkpoint {anchor.label} names position {anchor.position}, which the ledger skips"
    if anchor.hash != chain.hex():
        return (f"does not extend the checkpoint {anchor.label}: the chain's hash here is {chain.hex()[:16]}…, "
                f"the signed one {anchor.hash[:16]}… (history up to it was rewritten)")
    return None


def _header_position(m: LedgerMessage) -> int | None:
    value = m.headers.get(topology.POSITION_HEADER, "")
    return int(value) if value.isdigit() else None


class _Aligned:
    """The event store's notifications, consumed in step with the stream."""

    def __init__(self, stored: Iterator[tuple[int, bytes]]):
        self.stored = stored
        self.current = next(stored, None)

    def compare(self, m: LedgerMessage) -> list[str]:
        try:
            want = int(m.headers.get(topology.NOTIFICATION_ID_HEADER, ""))
        except ValueError:
            want = self.current[0] if self.current else 0  # no usable header: compare in order
        skipped = 0
        while self.current is not None and self.current[0] < want:
            skipped, self.current = skipped + 1, next(self.stored, None)
        faults = [f"the event store holds {skipped} event(s) before this one that the stream lacks"] if skipped else []
        if self.current is None or self.current[0] != want:
            faults.append(f"in the stream but not in the event store (notification {want})")
        else:
            if self.current[1] != m.data:
                faults.append("differs from the event store")
            self.current = next(self.stored, None)
        return faults

    def remaining(self) -> int:
        return (self.current is not None) + sum(1 for _ in self.stored)


def store_states(recorder: ApplicationRecorder, page: int = 5000) -> Iterator[tuple[int, bytes]]:
    """The event store's (notification id, stored bytes), in notification order."""
    start = 1
    while True:
        notes = recorder.select_notifications(start=start, limit=page)
        if not notes:
            return
        for n in notes:
            yield n.id, n.state
        start = notes[-1].id + 1
