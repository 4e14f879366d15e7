"""The CIVIC_INTAKE stream: every event type, one union, one decoder built once.

Subject: civic.intake.<type>.<org ids from root to leaf>. The same union is what the ledger
stores and what CIVIC_LEDGER carries (with `personal` sealed and `org_path` filled in).
"""

from __future__ import annotations

import re
from typing import Any, Union

import msgspec

from schemas.base import Event, stated, tag_of
from schemas.clock import CLOCK_EVENTS
from schemas.deliberation import DELIBERATION_EVENTS
from schemas.dispute import DISPUTE_EVENTS
from schemas.evolution import upcast
from schemas.organisation import ORGANISATION_EVENTS
from schemas.pipeline import PIPELINE_EVENTS
from schemas.privacy import PRIVACY_EVENTS
from schemas.ticket import TICKET_EVENTS

EVENT_TYPES: tuple[type[Event], ...] = (ORGANISATION_EVENTS + TICKET_EVENTS + tuple[type[Event], ...](CLOCK_EVENTS) + DISPUTE_EVENTS + DELIBERATION_EVENTS
                                         + PRIVACY_EVENTS + PIPELINE_EVENTS)
EVENTS_BY_TYPE: dict[str, type[Event]] = {tag_of(cls): cls for cls in EVENT_TYPES}
AnyEvent: Any = Union[EVENT_TYPES]
"""The tagged union of every event type, for msgspec. Built from a tuple at run time, so it is a
value, not a static type: annotations say `Event`."""
CURRENT_VERSION: dict[str, int] = {
    tag: next(f.default for f in msgspec.structs.fields(cls) if f.name == "schema_version")
    for tag, cls in EVENTS_BY_TYPE.items()
}
"""Each type's current schema_version: the default its class declares."""

MAX_EVENT_BYTES = 64 * 1024
"""Well under NATS's default max_payload of 1 MiB; larger messages are refused as `oversize`."""
MAX_DEPTH = 32
"""Arrays and objects nested deeper are refused as `malformed_json` before msgspec sees them.

msgspec's C decoder recurses once per level, also while skipping an unknown field or a Raw
element, and raises RecursionError near Python's recursion limit (about 1,000 levels): a
10 KB body of 5,000 `[` inside an object would otherwise escape as an unexpected exception.
The deepest valid event nests 4 levels."""


class _Head(msgspec.Struct):
    type: str
    schema_version: int = 1


_decoder: msgspec.json.Decoder[Event] = msgspec.json.Decoder(AnyEvent)
_head_decoder = msgspec.json.Decoder(_Head)
_encoder = msgspec.json.Encoder()
_AT = re.compile(r" - at `\$\.?([^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `([^`]*)`")


class DecodeFailure(Exception):
    """Why bytes are not an event: a reason code (schemas.rejected.REASONS) and a sentence."""

    def __init__(self, code: str, detail: str, field: str | None = None):
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.field = code, detail, field


def decode(data: bytes, max_bytes: int | None = MAX_EVENT_BYTES) -> Event:
    """Bytes as a producer sent them -> a typed event at its current version, or DecodeFailure.

    Stored ledger events are decoded with max_bytes=None: sealing may have grown them.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise DecodeFailure("oversize", f"{len(data)} bytes, the limit is {max_bytes}")
    if nesting(data) > MAX_DEPTH:
        raise DecodeFailure("malformed_json", f"arrays or objects nested more than {MAX_DEPTH} levels deep")
    try:  # the usual case in one pass: a valid event of a type never versioned past 1
        event = _decoder.decode(data)
        # Only there do an absent schema_version (1, as sent) and the struct's default agree; a
        # type at v2 defaults to 2 in its struct, so its bytes take the path below.
        if event.schema_version == 1 == CURRENT_VERSION[event.type]:
            return event
    except Exception:  # noqa: BLE001  anything else takes the path below, which says why (or upcasts)
        pass
    try:
        head = _head_decoder.decode(data)
    except msgspec.DecodeError as e:
        raise _failure(data, e) from None
    except RecursionError:  # a backstop: nesting() above stops what the decoder would recurse on
        raise DecodeFailure("malformed_json", "nested too deeply") from None
    if head.type not in EVENTS_BY_TYPE:
        raise DecodeFailure("unknown_type", f"no event type {head.type!r}", "type")
    want = CURRENT_VERSION[head.type]
    try:
        if head.schema_version == want:
            return _decoder.decode(data)
        if head.schema_version < 1:
            raise DecodeFailure("invalid_field", f"schema_version {head.schema_version} is below 1", "schema_version")
        if head.schema_version > want:
            raise DecodeFailure("unsupported_version", f"{head.type} v{head.schema_version}; this ledger reads up to v{want}", "schema_version")
        upcast_event: Event = msgspec.convert(upcast(msgspec.json.decode(data), want), AnyEvent)
        return upcast_event
    except (msgspec.ValidationError, ValueError, KeyError, TypeError) as e:
        raise _failure(data, e) from None
    except RecursionError:
        raise DecodeFailure("malformed_json", "nested too deeply") from None


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_A_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def nesting(data: bytes) -> int:
    """How deep arrays and objects nest in `data` (brackets inside strings do not count), up to
    MAX_DEPTH + 1, where the walk stops; 0 when it has too few openers to nest past MAX_DEPTH.

    The hot path is two C-speed counts: an event has a handful of openers. Only a message
    with more than MAX_DEPTH walks its brackets.
    """
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return 0
    depth = deepest = 0
    for b in _STRING.sub(b"", data).translate(None, _NOT_A_BRACKET):
        if b in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    break
        else:
            depth -= 1
    return deepest


def encode(event: Event) -> bytes:
    """An event's bytes: every field, except those its type gained later (`added`) while at their
    default, so an event that does not use them has the bytes it had before they existed (the
    golden ledger's, a producer's, the simulator's for a seed)."""
    if event.added:
        return _encoder.encode(stated(event))
    return _encoder.encode(event)


def to_builtins(event: Event) -> dict[str, Any]:
    """The event as builtins, as encode() writes it."""
    return stated(event)


def _failure(data: bytes, error: Exception) -> DecodeFailure:
    text = str(error)
    if isinstance(error, msgspec.ValidationError):
        m = _AT.search(text)
        at = m.group(1) if m else ""
        if missing := _MISSING.match(text):  # name the missing field itself, not its parent
            at = f"{at}.{missing.group(1)}" if at else missing.group(1)
        return DecodeFailure("invalid_field", text, at or None)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return DecodeFailure("invalid_utf8", str(e))
    if isinstance(error, msgspec.DecodeError):
        return DecodeFailure("malformed_json", text)
    return DecodeFailure("invalid_field", text)
