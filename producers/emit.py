"""`civic emit`: events from a file or stdin into intake, then the ledger's verdict on each.

Each event is checked locally (a refusal here names the line and column of the file), sent with
an ack, and then, unless the caller does not wait, followed to the ledger's verdict
(producers/verdicts.py): "accepted at position N", "refused: reason (field): sentence", or, if
the wait ran out, "pending" (never reported as accepted).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

from producers.sdk import Producer, Result
from producers.verdicts import IndexReader, Verdict, await_verdicts
from schemas.intake import MAX_DEPTH, malformed, nesting, unplaced, where

@dataclass(frozen=True)
class Item:
    line: int
    """The file's line the event starts on (1 for a one-line array or object)."""
    start: int
    """Its first byte in the file."""
    data: bytes
    failure: Result | None = None
    """Set when the file is not even JSON enough to split into events (a broken array)."""


def split_events(text: bytes) -> Iterator[Item]:
    """A JSON array, one JSON object, or JSON Lines -> each event's bytes and where it starts."""
    lead = len(text) - len(text.lstrip())
    stripped = text.strip()
    if stripped.startswith(b"["):
        try:
            items = msgspec.json.decode(stripped, type=list[msgspec.Raw])
        except msgspec.DecodeError as e:
            if nesting(stripped) > MAX_DEPTH:  # too deep to split: validation says so
                yield Item(where(text, lead)[0], lead, stripped)
                return
            failure = malformed(stripped, e)
            yield Item(where(text, lead)[0], lead, stripped,
                       Result(None, False, reason=f"{failure.code}: {failure.detail}", offset=failure.offset))
            return
        except RecursionError:
            yield Item(where(text, lead)[0], lead, stripped)  # nested too deeply to split: validation says so
            return
        yield from (Item(where(text, lead)[0], lead, bytes(item)) for item in items)
        return
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        if line.strip():
            yield Item(number, offset + len(line) - len(line.lstrip()), line.strip())
        offset += len(line)


@dataclass
class Tally:
    accepted: int = 0
    refused: int = 0
    pending: int = 0
    spooled: int = 0
    sent: int = 0
    """Stored in intake, verdict not waited for (--no-wait)."""

    def summary(self) -> str:
        parts = [f"{self.accepted} accepted", f"{self.refused} refused"]
        if self.sent:
            parts.append(f"{self.sent} in intake, verdict not waited for")
        if self.pending:
            parts.append(f"{self.pending} still pending (no verdict yet: run it again to wait again; nothing is stored twice)")
        if self.spooled:
            parts.append(f"{self.spooled} spooled until NATS is back")
        return ", ".join(parts)

    @property
    def failed(self) -> int:
        return self.refused + self.pending


def local_line(item: Item, result: Result, text: bytes) -> str:
    """A refusal made here, as the ledger's are said ("reason (field): what is wrong"), at the
    line (and, for malformed JSON, the column) of the file it came from."""
    code, _, detail = (result.reason or "refused").partition(": ")
    at = f" ({result.field})" if result.field else ""
    if result.offset is not None:
        line, column = where(text, item.start + result.offset)
        return f"refused  {result.event_id or '?'}: line {line}, column {column}: {code}{at}: {unplaced(detail)}"
    return f"refused  {result.event_id or '?'}: line {item.line}: {code}{at}: {detail}"


async def emit_file(nats_url: str, text: bytes, echo: Callable[[str], None], spool_path: str | None = None, *,
                    wait: float | None = 30.0, index: IndexReader = lambda ids, seqs: None,
                    mask: Callable[[str | None], str | None] = lambda text: text, **options: Any) -> Tally:
    """Publish each event in order (validated locally, sent verbatim); with `wait` (seconds), wait
    for the ledger's verdict on those stored in intake. One line per event, in order; returns the
    tally. `options` go to Producer.connect (credentials, tls_ca)."""
    items = list(split_events(text))
    tally = Tally()
    broken = [item for item in items if item.failure is not None]
    if broken:  # nothing to send: the file is not JSON
        for item in broken:
            tally.refused += 1
            echo(local_line(item, item.failure, text))  # type: ignore[arg-type]
        return tally
    producer = await Producer.connect(nats_url, spool_path, **options)
    try:
        results = await producer.publish_many([item.data for item in items])
        sent = [(r.event_id, r.sequence) for r in results if r.accepted and r.event_id and r.sequence]
        verdicts: dict[str, Verdict] = {}
        if wait is not None and sent:
            verdicts = {v.event_id: v for v in await await_verdicts(producer.nc, producer.js, sent, index, wait)}  # type: ignore[arg-type]
        for item, result in zip(items, results):
            if result.spooled:
                tally.spooled += 1
                echo(result.line())
            elif not result.accepted:
                tally.refused += 1
                echo(local_line(item, result, text))
            elif result.event_id in verdicts:
                verdict = verdicts[result.event_id]
                setattr(tally, verdict.status, getattr(tally, verdict.status) + 1)
                echo(verdict.line(mask))
            else:
                tally.sent += 1
                echo(f"sent     {result.event_id}: in intake at #{result.sequence}; the ledger decides next")
        return tally
    finally:
        await producer.close()
