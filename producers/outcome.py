"""What the producer SDK says about each event, and the local check it makes before sending."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import NamedTuple

import msgspec
from nats import errors as nats_errors
from nats.js import errors as js_errors

from schemas import DecodeFailure, decode, encode
from schemas.base import Event, written_by_ledger


class Checked(NamedTuple):
    """An event that passed check(): publish_many sends these without checking them again."""

    event: Event
    data: bytes


class ConnectionLost(Exception):
    """The connection dropped while the publish waited for its ack: it may or may not be stored."""


# Worth another try: nothing was refused, the server was away, slow or restarting.
RETRYABLE = (nats_errors.TimeoutError, asyncio.TimeoutError, nats_errors.NoRespondersError,
             js_errors.NoStreamResponseError, js_errors.ServiceUnavailableError, js_errors.ServerError,
             nats_errors.ConnectionClosedError, nats_errors.ConnectionReconnectingError,
             nats_errors.OutboundBufferLimitError, nats_errors.StaleConnectionError, ConnectionLost, OSError)
CONNECT_ERRORS = (OSError, asyncio.TimeoutError, nats_errors.Error)


@dataclass(frozen=True)
class Result:
    """What became of one event at the producer: stored in intake (with its sequence), spooled
    to be sent later, or refused here (with the reason and the field at fault)."""

    event_id: str | None
    accepted: bool
    sequence: int | None = None
    duplicate: bool = False
    reason: str | None = None
    field: str | None = None
    spooled: bool = False
    offset: int | None = None
    """For malformed JSON: the byte of the event where decoding stopped."""

    def line(self) -> str:
        if self.accepted:
            dup = " (duplicate, already in intake)" if self.duplicate else ""
            return f"accepted {self.event_id} -> intake #{self.sequence}{dup}"
        if self.spooled:
            return f"spooled  {self.event_id}: NATS unreachable, sent when it is back"
        where = f" at {self.field}" if self.field else ""
        return f"refused  {self.event_id or '?'}: {self.reason}{where}"


class PublishFailed(RuntimeError):
    """NATS stayed unreachable past `retry_for` and there is no spool. `results` holds what was
    stored before (None for the events not sent)."""

    def __init__(self, message: str, results: list[Result | None]):
        super().__init__(message)
        self.results = results


def check(item: Event | bytes) -> Checked | Result:
    """Local validation: the bytes that will be sent must decode as the ledger will decode them."""
    data = bytes(item) if isinstance(item, (bytes, bytearray, memoryview)) else encode(item)
    try:
        event = decode(data)
    except DecodeFailure as e:
        return Result(getattr(item, "event_id", None) or _event_id_of(data), False, reason=f"{e.code}: {e.detail}", field=e.field,
                      offset=e.offset)
    if event.sealed or event.org_path:
        return Result(event.event_id, False, reason="sealed_by_producer: only the ledger writes sealed and org_path",
                      field="sealed" if event.sealed else "org_path")
    if own := written_by_ledger(event):  # e.g. the policy_version of a deadline the ledger computes
        return Result(event.event_id, False, reason=f"sealed_by_producer: only the ledger writes {', '.join(own)}",
                      field=own[0])
    return Checked(event, data)


def _event_id_of(data: bytes) -> str | None:
    try:
        value = msgspec.json.decode(data).get("event_id")
        return value if isinstance(value, str) else None
    except Exception:
        return None
