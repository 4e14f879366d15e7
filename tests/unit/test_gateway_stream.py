"""The gateway reads a body as a stream (issue 14): the elements of a JSON array split as chunks
arrive, checked against msgspec parsing the body whole (the oracle), at every chunk size down
to one byte; frame errors said with their element, line and column; a request's memory bounded
by one event plus the spool's memory part, not its body. No network: the org directory answers
from what it learned."""

from __future__ import annotations

import json
import random
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest
from litestar.exceptions import HTTPException

import schemas as s
from producers.directory import OrgDirectory
from producers.elements import BodyError, Element, Splitter
from producers.gateway import MAX_BODY, MAX_EVENTS, SPOOL_IN_MEMORY, System, read_events
from schemas import decode
from schemas.intake import MAX_DEPTH, MAX_EVENT_BYTES, nesting, where
from schemas.topology import intake_subject
from tests.scenario import RESIDENT, at

ODD = ['he said \\"[no]\\" {twice}, then ]', "{[", "\\\\", "路灯 ]} 坏了", "\\u005d\\\"", ","]
"""String contents (as written in JSON) with brackets, commas, escaped quotes and backslashes."""


def split(body: bytes, size: int, max_element: int = MAX_EVENT_BYTES) -> list[Element]:
    splitter = Splitter(max_element, MAX_DEPTH)
    found = [e for i in range(0, len(body), size) for e in splitter.feed(body[i:i + size])]
    return found + splitter.end()


def value(rng: random.Random, depth: int = 0) -> str:
    """A random JSON value as text, with random whitespace between its tokens."""
    ws = lambda: rng.choice(["", " ", "\n", "\t ", "\r\n  "])  # noqa: E731
    kind = rng.randrange(6 if depth < 4 else 3)
    if kind == 0:
        return f'"{rng.choice(ODD)}"'
    if kind == 1:
        return rng.choice(["0", "-12.5e3", "true", "null", "7"])
    if kind == 2:
        return '"plain"'
    if kind == 3:
        return "[" + ws() + ("," + ws()).join(value(rng, depth + 1) for _ in range(rng.randrange(4))) + ws() + "]"
    items = [f'{ws()}"{rng.choice(ODD)}{i}"{ws()}:{ws()}{value(rng, depth + 1)}{ws()}' for i in range(rng.randrange(4))]
    return "{" + ",".join(items) + "}"


def bodies() -> Iterator[bytes]:
    rng = random.Random(14)
    for _ in range(60):
        ws = lambda: rng.choice(["", " ", "\n", " \n\t"])  # noqa: E731
        yield (ws() + "[" + ws() + ("," + ws()).join(ws() + value(rng) + ws() for _ in range(rng.randrange(6))) + "]" + ws()).encode()


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 1 << 20])
def test_elements_are_the_bytes_msgspec_finds_at_every_chunk_size(size: int) -> None:
    for body in bodies():
        want = [bytes(raw) for raw in msgspec.json.decode(body, type=list[msgspec.Raw])]
        got = split(body, size)
        assert [e.data for e in got] == want, body
        for e in got:
            assert body[e.offset:e.offset + e.size] == e.data and e.index == got.index(e)
            assert (e.line, e.column) == where(body, e.offset)


def test_a_body_splits_into_json_elements_exactly_when_it_is_a_json_array() -> None:
    """Bodies broken at random (a bracket, comma, quote or backslash put in or taken out): the
    splitter with msgspec on each element accepts exactly the bodies msgspec accepted whole (the
    gateway's parse before: elements as Raw, so bad UTF-8 in a string is the event's refusal,
    invalid_utf8, not the body's)."""
    rng = random.Random(7)
    valid = [b for b in bodies() if len(b) > 2]
    for n in range(600):
        body = bytearray(rng.choice(valid))
        at = rng.randrange(len(body))
        if n % 2:
            body[at:at] = rng.choice([b"[", b"]", b"{", b"}", b",", b'"', b"\\", b":"])
        else:
            del body[at]
        try:
            whole = [bytes(raw) for raw in msgspec.json.decode(bytes(body), type=list[msgspec.Raw])]
        except msgspec.DecodeError:
            whole = None
        for size in (1, 7, 1 << 20):
            try:
                got = [e.data for e in split(bytes(body), size)]
                for data in got:
                    msgspec.json.decode(data, type=msgspec.Raw)  # as the whole body's parse, UTF-8 unchecked
            except (BodyError, msgspec.DecodeError):
                got = None
            assert got == whole, (bytes(body), size)


def test_one_value_without_an_array_is_one_element() -> None:
    for body in (b' {"type": "TicketRaised", "t": "[{\\"]"} \n', b"42", b'"a"'):
        for size in (1, 5, 100):
            (only,) = split(body, size)
            assert only.data == body.strip() and only.index == 0


@pytest.mark.parametrize("body, element, line, column, why", [
    (b"", None, 1, 1, "empty"),
    (b"  \n ", None, 2, 2, "empty"),
    (b'[{"a": 1},\n {"b": [2, 3]', 1, 2, 14, "before the array is closed"),
    (b'[{"a": "unterminated', 0, 1, 21, "inside a string"),
    (b"[1,,2]", 1, 1, 4, "missing"),
    (b"[1,]", 1, 1, 4, "missing"),
    (b"[,1]", 0, 1, 2, "missing"),
    (b"[1]\n x", None, 2, 2, "goes on after"),
    (b'[{"a": 1}}', 0, 1, 10, "} closes the array"),
    (b"{}}", 0, 1, 3, "closes nothing"),
    (b"[" * (MAX_DEPTH + 1), 0, 1, MAX_DEPTH + 1, f"more than {MAX_DEPTH} levels"),
])
def test_a_body_that_is_not_an_array_of_elements_says_where(body: bytes, element: int | None, line: int, column: int, why: str) -> None:
    for size in (1, 3, 1 << 20):
        with pytest.raises(BodyError) as caught:
            split(body, size)
        e = caught.value
        assert (e.element, e.line, e.column) == (element, line, column) and why in e.detail, (size, e.detail)


def test_every_truncation_of_an_array_is_refused() -> None:
    body = b'[{"title": "x \\"]\\" y", "n": [1, {"m": "}"}]},\n  "s", 3]'
    msgspec.json.decode(body)
    for cut in range(len(body)):
        with pytest.raises(BodyError):
            split(body[:cut], 4)


def test_an_element_too_long_is_counted_not_kept() -> None:
    long = b'{"title": "' + b"x" * 300 + b'", "a": [1, "]"]}'
    body = b"[ " + long + b" \n\n , \t" + b'{"t": tru}' + b" ]"  # the second is short enough, though malformed
    for size in (1, 7, 64, 1 << 20):
        first, second = split(body, size, max_element=100)
        assert (first.data, first.size, first.offset, first.line, first.column) == (None, len(long), 2, 1, 3)
        assert second.data == b'{"t": tru}' and (second.line, second.column) == (3, 5)


def event(i: int, description: str = "") -> s.TicketRaised:
    return s.TicketRaised(event_id=f"big-{i}", occurred_at=at(2, 9), source="hotline", actor=RESIDENT, org_id="c1",
                          ticket_id=f"B{i}", category="parking", title="路灯 [坏了] \"{}\"", description=description)


def sixteen_mib() -> bytes:
    """A body just under MAX_BODY: 1,000 events of about 16 KiB, their descriptions in Chinese as
    \\u escapes (as a producer encoding ASCII-only JSON sends them), pretty-printed."""
    text = "".join(chr(0x4E00 + i % 2000) for i in range(2700))
    items = [json.dumps(msgspec.to_builtins(event(i, text)), ensure_ascii=True, indent=1) for i in range(MAX_EVENTS)]
    body = ("[\n" + ",\n".join(items) + "\n]").encode()
    assert 15 * 1024 * 1024 < len(body) <= MAX_BODY
    return body


def directory() -> OrgDirectory:
    d = OrgDirectory()  # no NATS: the units are known from here
    d.parents.update({"yn": "", "ta": "yn", "c1": "ta"})
    return d


async def chunked(body: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """As an ASGI server hands a body over: chunks of 64 KiB (uvicorn's read size)."""
    view = memoryview(body)
    for i in range(0, len(body), size):
        yield bytes(view[i:i + size])


async def whole_body(chunks: AsyncIterator[bytes], d: OrgDirectory) -> list[tuple[int, object, bytes, str]]:
    """The gateway before issue 14, as the baseline: the body read whole, split by msgspec into
    the elements' bytes, every valid event held until all were checked."""
    body = b"".join([c async for c in chunks])
    assert nesting(body.strip()) <= MAX_DEPTH
    items = [bytes(item) for item in msgspec.json.decode(body.strip(), type=list[msgspec.Raw])]
    valid = []
    for i, data in enumerate(items):
        e = decode(data)
        valid.append((i, e, data, intake_subject(e, await d.path(e))))
    return valid


async def test_a_request_holds_one_event_not_its_body(tmp_path: Path) -> None:
    """tracemalloc's peak for a 16 MiB body, read whole as before and as a stream now: the stream
    holds a chunk, one event and the spool's memory part (1 MiB), a small fraction of the body."""
    body, system = sixteen_mib(), System("hotline", frozenset({"yn"}))
    tracemalloc.start()
    try:
        before = await whole_body(chunked(body), directory())
        _, whole_peak = tracemalloc.get_traced_memory()
        assert len(before) == MAX_EVENTS
        del before
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        intake = await read_events(chunked(body), system, directory(), tmp_path)
        _, stream_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(intake.valid) == MAX_EVENTS and intake.results == [None] * MAX_EVENTS
    intake.spool.seek(0)
    first = intake.valid[0]
    assert intake.spool.read(first.size) == body[2:2 + first.size]  # the bytes as sent, spooled in order
    intake.spool.close()
    streamed = stream_peak - base
    print(f"peak: whole body {whole_peak / 2**20:.1f} MiB, as a stream {streamed / 2**20:.2f} MiB")
    assert whole_peak > len(body)
    assert streamed < whole_peak / 10 and streamed < SPOOL_IN_MEMORY + 4 * MAX_EVENT_BYTES + 1024 * 1024


async def test_a_malformed_element_in_the_middle_is_a_400_naming_it(tmp_path: Path) -> None:
    items = [msgspec.json.encode(event(i)) for i in range(5)]
    k = items[3].index(b'"event_id"')
    items[3] = items[3][:k] + b"tru" + items[3][k:]
    body = b"[" + b",\n ".join(items) + b"]"
    d = directory()
    with pytest.raises(HTTPException) as caught:
        await read_events(chunked(body, 9), System("hotline", frozenset({"yn"})), d, tmp_path)
    e = caught.value
    assert e.status_code == 400 and e.extra["element"] == 3 and e.extra["line"] == 4  # type: ignore[index]
    assert e.extra["column"] == 2 + k and f"element 3, line 4, column {2 + k}" in e.detail  # type: ignore[index]
    assert body[e.extra["offset"]:].startswith(b"tru")  # type: ignore[index]


async def test_a_refused_request_forgets_the_units_it_taught(tmp_path: Path) -> None:
    """An org event learned on the way, then a malformed element: nothing is published, so the
    directory must not know the unit either (a later event there is unknown_org, as before)."""
    unit = s.OrgUnitRegistered(event_id="o-9", occurred_at=at(1, 8), source="hotline", actor=RESIDENT, org_id="c9",
                               kind="community", name="c9", parent_id="ta")
    body = b"[" + msgspec.json.encode(unit) + b", {]"
    d = directory()
    with pytest.raises(HTTPException):
        await read_events(chunked(body, 5), System("hotline", frozenset({"yn"})), d, tmp_path)
    assert "c9" not in d.parents and d.paths == {}
    ok = await read_events(chunked(body[:-4] + b"]"), System("hotline", frozenset({"yn"})), d, tmp_path)
    assert [v.subject for v in ok.valid] == ["civic.intake.OrgUnitRegistered.yn.ta.c9"] and d.parents["c9"] == "ta"


async def test_bad_utf8_in_a_string_is_the_events_refusal_not_the_bodys(tmp_path: Path) -> None:
    good, bad = msgspec.json.encode(event(1)), msgspec.json.encode(event(2)).replace("路灯".encode(), b"\xc3(", 1)
    intake = await read_events(chunked(b"[" + bad + b", " + good + b"]", 3), System("hotline", frozenset({"yn"})), directory(), tmp_path)
    assert intake.results[0] is not None and intake.results[0].reason == "invalid_utf8" and intake.results[1] is None
    assert [v.event_id for v in intake.valid] == ["big-1"]
    intake.spool.close()


async def test_which_refusal_of_a_whole_request_comes_first(tmp_path: Path) -> None:
    """As when the body was parsed whole: not JSON anywhere (400) before too many events (413)
    before one outside the token's subtrees (403), however late in the body the first two show."""
    c1_only = System("hotline", frozenset({"c1"}))
    d = directory()
    d.parents["c2"] = "ta"
    outside = msgspec.json.encode(msgspec.structs.replace(event(0), org_id="c2"))
    fine = [msgspec.json.encode(event(i)) for i in range(1, MAX_EVENTS + 1)]
    cases = [([outside, *fine[:3]], 403), ([outside, *fine], 413), ([outside, *fine, b"{"], 400), ([fine[0], outside, b"[}"], 400)]
    for items, status in cases:
        with pytest.raises(HTTPException) as caught:
            await read_events(chunked(b"[" + b",".join(items) + b"]", 4096), c1_only, d, tmp_path)
        assert caught.value.status_code == status, (status, caught.value.detail)
    assert "1001 events" in (await _refusal([outside, *fine], c1_only, d, tmp_path)).detail


async def _refusal(items: list[bytes], system: System, d: OrgDirectory, spool: Path) -> HTTPException:
    try:
        await read_events(chunked(b"[" + b",".join(items) + b"]"), system, d, spool)
    except HTTPException as e:
        return e
    raise AssertionError("not refused")


async def _whole_body_answer(body: bytes, system: System, d: OrgDirectory) -> tuple[int, list[tuple[int, str | None]]]:
    """The gateway's answer before issue 14 (its code, the body parsed whole): the status, and for
    200 each event's (index, refusal reason or None for valid)."""
    from schemas import DecodeFailure

    stripped = body.strip()
    if nesting(stripped) > MAX_DEPTH:
        return 400, []
    try:
        if stripped.startswith(b"["):
            items = [bytes(i) for i in msgspec.json.decode(stripped, type=list[msgspec.Raw])]
        else:
            msgspec.json.decode(stripped)  # one value: well-formed at least
            items = [stripped]
    except (msgspec.DecodeError, RecursionError):
        return 400, []
    if len(items) > MAX_EVENTS:
        return 413, []
    out: list[tuple[int, str | None]] = []
    for i, data in enumerate(items):
        try:
            e = decode(data)
        except DecodeFailure as f:
            out.append((i, f.code))
            continue
        if e.source != system.name:
            out.append((i, "source_mismatch"))
            continue
        try:
            path = await d.path(e)
        except Exception:
            out.append((i, "unknown_org"))
            continue
        if not system.may_write(path):
            return 403, []
        d.learn(e)
        out.append((i, None))
    return 200, out


async def test_random_bodies_get_the_answers_the_whole_body_parse_gave(tmp_path: Path) -> None:
    """Bodies of a few events (an org unit, an event at it, one from another source, one at an
    unknown unit, one outside the token's subtree) broken at random: the same status and the same
    verdict per event as the gateway's code before it read a stream."""
    rng = random.Random(3)
    unit = msgspec.to_builtins(s.OrgUnitRegistered(event_id="o-1", occurred_at=at(1, 8), source="hotline", actor=RESIDENT,
                                                   org_id="c7", kind="community", name="c7", parent_id="ta"))
    events = [unit, {**msgspec.to_builtins(event(1)), "org_id": "c7"}, {**msgspec.to_builtins(event(2)), "source": "else"},
              {**msgspec.to_builtins(event(3)), "org_id": "nowhere"}, msgspec.to_builtins(event(4)),
              {**msgspec.to_builtins(event(5)), "org_id": "c2"}]
    system = System("hotline", frozenset({"ta"}))
    seen: dict[int, int] = {}
    for n in range(300):
        chosen: object = rng.choice(events) if n % 5 == 0 else rng.sample(events, rng.randint(1, len(events)))  # one event, or an array
        body = bytearray(json.dumps(chosen, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1])).encode())
        for _ in range(rng.randint(0, 2)):
            at_ = rng.randrange(len(body))
            if rng.random() < 0.5:
                body[at_:at_] = rng.choice([b"[", b"]", b"{", b"}", b",", b'"', b"\\\\", b":", b" "])
            else:
                del body[at_]
        before, after = directory(), directory()
        before.parents["c2"] = after.parents["c2"] = "tb"
        before.parents["tb"] = after.parents["tb"] = "yn"
        want = await _whole_body_answer(bytes(body), system, before)
        try:
            intake = await read_events(chunked(bytes(body), rng.choice([1, 5, 64, 4096])), system, after, tmp_path)
            got = (200, [(i, r.reason if r else None) for i, r in enumerate(intake.results)])
            intake.spool.close()
        except HTTPException as e:
            got = (e.status_code, [])
        assert got == want, bytes(body)
        seen[want[0]] = seen.get(want[0], 0) + 1
    assert all(seen.get(status, 0) >= 10 for status in (200, 400, 403)), seen  # every kind of answer was put to the test
