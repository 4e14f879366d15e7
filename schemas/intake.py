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


_BYTE = re.compile(r"\(byte (\d+)\)$")
_EXPECTED_PATTERN = re.compile(r"^Expected `str` matching regex '(.*)'$")
_CHARACTER_RUN = re.compile(r"^\^\[([^\]]+)\]\{(\d+)(?:,(\d+))?\}\$$")


class DecodeFailure(Exception):
    """Why bytes are not an event: a reason code (schemas.rejected.REASONS) and a sentence;
    `offset`: for malformed JSON, the byte where the decoder stopped (a caller reading a file
    turns it into a line and column: where())."""

    def __init__(self, code: str, detail: str, field: str | None = None, offset: int | None = None):
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.field, self.offset = code, detail, field, offset


def where(text: bytes, offset: int) -> tuple[int, int]:
    """(line, column), both from 1, of a byte offset in `text` (columns count characters)."""
    before = text[:offset]
    line_start = before.rfind(b"\n") + 1
    return before.count(b"\n") + 1, len(before[line_start:].decode("utf-8", "replace")) + 1


def pattern_in_words(pattern: str) -> str:
    """A field's pattern, said in words: the contract's patterns are all one character class
    with a length (`^[a-z0-9_]{1,48}$` -> "1 to 48 characters, each a-z, 0-9 or _"); any other
    is quoted as it is."""
    run = _CHARACTER_RUN.match(pattern)
    if run is None:
        return f"text matching {pattern}"
    chars, low, high = run.groups()
    length = f"{low} to {high}" if high else low
    parts, i = [], 0
    while i < len(chars):
        if i + 2 < len(chars) and chars[i + 1] == "-":
            parts.append(f"{chars[i]}-{chars[i + 2]}")
            i += 3
        else:
            parts.append(chars[i])
            i += 1
    listed = ", ".join(parts[:-1]) + f" or {parts[-1]}" if len(parts) > 1 else parts[0]
    return f"{length} characters, each {listed}"


def _field_type(cls: type[Event], path: str) -> Any:
    """The msgspec.inspect type of the field at a decoder path (`actor.id`, `personal[0].phone`)."""
    import msgspec.inspect as mi

    node: Any = mi.type_info(cls)
    description = None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", path):
        while True:  # through Optional, tuples and Meta() to the struct or value itself
            if isinstance(node, mi.Metadata):
                description = (node.extra_json_schema or {}).get("description", description)
                node = node.type
            elif isinstance(node, mi.UnionType):
                node = next((t for t in node.types if not isinstance(t, mi.NoneType)), node.types[0])
            else:
                break
        if part.startswith("["):
            node = getattr(node, "item_type", node)
            continue
        fields = {f.encode_name: f.type for f in getattr(node, "fields", ())}
        if part not in fields:
            return None, None
        node, description = fields[part], None
    if isinstance(node, mi.Metadata):
        description = (node.extra_json_schema or {}).get("description")
        node = node.type
    return node, description


def _pattern_sentence(cls: type[Event] | None, at: str, message: str) -> str | None:
    """'`category` must be 1 to 48 characters, each a-z, 0-9 or _ (A ticket or dispute category
    code, e.g. parking.)' instead of msgspec's regex: from the field's own Meta (pattern and
    description), so the rule is written once, in schemas/."""
    expected = _EXPECTED_PATTERN.match(message)
    if expected is None or cls is None:
        return None
    _, description = _field_type(cls, at)
    words = pattern_in_words(expected.group(1))
    return f"`{at}` must be {words}" + (f" ({description})" if description else "")


def decode(data: bytes, max_bytes: int | None = MAX_EVENT_BYTES) -> Event:
    """Bytes as a producer sent them -> a typed event at its current version, or DecodeFailure.

    Stored ledger events are decoded with max_bytes=None: sealing may have grown them.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise oversize(len(data), max_bytes)
    if nesting(data) > MAX_DEPTH:
        raise DecodeFailure("malformed_json", f"arrays or objects nested more than {MAX_DEPTH} levels deep")
    decoded: Event | None = None
    try:  # the usual case in one pass: a valid event of a type never versioned past 1
        decoded = _decoder.decode(data)
        # Only there do an absent schema_version (1, as sent) and the struct's default agree; a
        # type at v2 defaults to 2 in its struct, so its bytes take the path below.
        if decoded.schema_version == 1 == CURRENT_VERSION[decoded.type]:
            return decoded
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
        if head.schema_version == want:  # a current event of a type versioned past 1: decoded above already
            return decoded if decoded is not None else _decoder.decode(data)
        if head.schema_version < 1:
            raise DecodeFailure("invalid_field", f"schema_version {head.schema_version} is below 1", "schema_version")
        if head.schema_version > want:
            raise DecodeFailure("unsupported_version", f"{head.type} v{head.schema_version}; this ledger reads up to v{want}", "schema_version")
        upcast_event: Event = msgspec.convert(upcast(msgspec.json.decode(data), want), AnyEvent)
        return upcast_event
    except (msgspec.ValidationError, ValueError, KeyError, TypeError) as e:
        raise _failure(data, e, EVENTS_BY_TYPE[head.type]) from None
    except RecursionError:
        raise DecodeFailure("malformed_json", "nested too deeply") from None


def oversize(size: int, max_bytes: int = MAX_EVENT_BYTES) -> DecodeFailure:
    """Why a message of `size` bytes is refused unread (a reader that did not keep its bytes)."""
    return DecodeFailure("oversize", f"{size} bytes, the limit is {max_bytes}")


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


def _failure(data: bytes, error: Exception, cls: type[Event] | None = None) -> DecodeFailure:
    text = str(error)
    if isinstance(error, msgspec.ValidationError):
        m = _AT.search(text)
        at = m.group(1) if m else ""
        if missing := _MISSING.match(text):  # name the missing field itself, not its parent
            at = f"{at}.{missing.group(1)}" if at else missing.group(1)
        sentence = _pattern_sentence(cls, at, _AT.sub("", text)) if at else None
        return DecodeFailure("invalid_field", sentence or text, at or None)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return DecodeFailure("invalid_utf8", str(e), offset=e.start)
    if isinstance(error, msgspec.DecodeError):
        return malformed(data, error)
    return DecodeFailure("invalid_field", text)


_RELATIVE = re.compile(r" at line \d+, column \d+$")


def unplaced(detail: str) -> str:
    """A malformed_json detail without malformed()'s "at line L, column C" (a position within the
    message), for a caller that says where in a larger text itself."""
    return _RELATIVE.sub("", detail)


def malformed(data: bytes, error: msgspec.DecodeError) -> DecodeFailure:
    """msgspec's "(byte N)" as a line and column of `data`, and the offset for a caller that
    holds a larger text (a file of events)."""
    text = str(error)
    byte = _BYTE.search(text)
    if byte is None:
        return DecodeFailure("malformed_json", text)
    line, column = where(data, int(byte.group(1)))
    return DecodeFailure("malformed_json", f"{_BYTE.sub('', text).rstrip()} at line {line}, column {column}",
                         offset=int(byte.group(1)))
