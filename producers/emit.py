"""`civic emit`: events from a file or stdin into intake, with a result line per event."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from producers.sdk import Producer


def split_events(text: bytes) -> Iterator[bytes]:
    """A JSON array, one JSON object, or JSON Lines -> the bytes of each event."""
    stripped = text.strip()
    if stripped.startswith(b"["):
        try:
            items = msgspec.json.decode(stripped, type=list[msgspec.Raw])
        except (msgspec.DecodeError, RecursionError):
            yield stripped  # not a valid array (or nested too deeply to split): let validation say why
            return
        yield from (bytes(item) for item in items)
        return
    for line in stripped.splitlines():
        if line.strip():
            yield line.strip()


async def emit_file(nats_url: str, text: bytes, echo: Callable[[str], None], spool_path: str | None = None,
                    **options: Any) -> int:
    """Publish each event in order (validated locally, sent verbatim); returns how many were refused.
    `options` go to Producer.connect (credentials, tls_ca)."""
    producer = await Producer.connect(nats_url, spool_path, **options)
    try:
        results = await producer.publish_many(list(split_events(text)))
        for result in results:
            echo(result.line())
        return sum(not r.accepted and not r.spooled for r in results)
    finally:
        await producer.close()
