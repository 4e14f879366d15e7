"""`civic emit`: events from a file or stdin into intake, with a result line per event."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import msgspec

from producers.publisher import Publisher, Result


def split_events(text: bytes) -> Iterator[bytes]:
    """A JSON array, one JSON object, or JSON Lines -> the bytes of each event."""
    stripped = text.strip()
    if stripped.startswith(b"["):
        try:
            items = msgspec.json.decode(stripped, type=list[msgspec.Raw])
        except msgspec.DecodeError:
            yield stripped  # not a valid array: let validation say why
            return
        yield from (bytes(item) for item in items)
        return
    for line in stripped.splitlines():
        if line.strip():
            yield line.strip()


async def emit_file(nats_url: str, text: bytes, echo: Callable[[str], None]) -> int:
    """Publish each event; returns how many were refused."""
    publisher = await Publisher.connect(nats_url)
    refused = 0
    try:
        for data in split_events(text):
            result: Result = await publisher.publish_bytes(data)
            refused += not result.accepted
            echo(result.line())
    finally:
        await publisher.close()
    return refused
