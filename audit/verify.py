"""`civic audit verify`: walk the whole ledger and prove it is what was written.

Checks: positions contiguous from 1 and equal to the Civic-Position header; the hash chain
recomputed from the bytes (schemas/ledger.py); every event decodes against the contract; and,
given the event store, that the store and the stream hold the same bytes in the same order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

from schemas import DecodeFailure, decode
from schemas import ledger as wire
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
    unrelayed: int = 0
    """Events in the store that the relay has not yet published (normal while it catches up)."""

    @property
    def ok(self) -> bool:
        return not self.faults

    def summary(self) -> str:
        if self.ok:
            lag = f" ({self.unrelayed} more in the store, not yet relayed)" if self.unrelayed else ""
            return f"ledger ok: {self.events} events, head {self.head.hex()}{lag}"
        return "\n".join(str(f) for f in self.faults) + f"\nledger FAULTY: {len(self.faults)} fault(s) in {self.events} events"


async def verify(messages: AsyncIterator[LedgerMessage], stored: Iterator[bytes] | None = None,
                 max_faults: int = 100) -> Report:
    """Check ledger messages in stream order; `stored` yields the event store's states in order."""
    report = Report()
    expected, chain = 1, wire.GENESIS
    async for m in messages:
        report.events += 1
        faults: list[str] = []
        if m.position != expected:
            faults.append(f"expected position {expected} (a gap or reordering)")
        if m.headers.get(wire.POSITION) != str(m.position):
            faults.append(f"Civic-Position header says {m.headers.get(wire.POSITION)!r}")
        chain = wire.chain_hash(chain, m.position, m.data)
        if m.headers.get(wire.HASH) != chain.hex():
            faults.append("hash chain broken: the bytes or an earlier event differ from what was chained")
            recorded = m.headers.get(wire.HASH, "")
            chain = bytes.fromhex(recorded) if len(recorded) == 64 else chain  # report each break once
        try:
            decode(m.data, max_bytes=None)
        except DecodeFailure as e:
            faults.append(f"does not decode ({e.code}: {e.detail})")
        if stored is not None:
            state = next(stored, None)
            if state is None:
                faults.append("in the stream but not in the event store")
            elif state != m.data:
                faults.append("differs from the event store")
        report.faults += [Fault(m.position, f) for f in faults]
        if len(report.faults) >= max_faults:
            break
        expected = m.position + 1
    report.head = chain
    if stored is not None:
        report.unrelayed = sum(1 for _ in stored)
    return report


def store_states(recorder, page: int = 5000) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
    """The event store's events in notification order."""
    start = 1
    while True:
        notes = recorder.select_notifications(start=start, limit=page)
        if not notes:
            return
        for n in notes:
            yield n.state
        start = notes[-1].id + 1
