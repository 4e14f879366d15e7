"""A request body's events, read as a stream: the elements of a top-level JSON array (or the one
value a body holds) as their bytes, one at a time, so a request holds one event, not its body.

Hand-written rather than ijson: ijson (yajl) yields parsed Python values and no byte positions,
and the gateway needs each element's own bytes, unchanged: it decodes them with msgspec against
the contract (whose errors say where, in the element's bytes) and publishes them as sent.

Two ways through an element. The quick one, for an object (every event is one): the first `}`
followed by a comma or `]` after which msgspec reads the bytes as one whole JSON value is the
element's end (an inner object's end, or a `},` inside a string, leaves the value unfinished, and
msgspec says so); C-speed searches and one msgspec pass per event. The exact one, for anything
else (or when the quick one gives up): strings skipped by quote finds, brackets counted, the
array's frame checked (`[`, commas, `]`, nothing after) and every fault said with its element,
line and column. Either way, whether an element is well-formed JSON is for msgspec to say when
the gateway decodes it.

Memory: the unscanned part of one chunk plus the element being read. An element longer than
`max_element` is not kept: its bytes are counted and dropped as they pass (the contract refuses
it as `oversize` without reading it).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass

import msgspec

from schemas.intake import nesting

WHITESPACE = b" \t\n\r"
"""JSON's whitespace (RFC 8259): what may stand between the array's elements and around them."""
_STRUCTURE = re.compile(rb'["\[\]{},]')
_NON_WHITESPACE = re.compile(rb"[^ \t\n\r]")
_OBJECT_END = re.compile(rb"}[ \t\n\r]*+([,\]])")
QUICK_TRIES = 16
"""Ends of inner objects the quick way tries past per element (an event nests a few: actor,
personal...), before it leaves the element to the exact scan."""
_CONTINUATION = bytes(range(0x80, 0xC0))
"""UTF-8 continuation bytes: a column counts characters, so these are not counted."""


class BodyError(ValueError):
    """The body is not a JSON array of elements (or one JSON value): where, and why."""

    def __init__(self, detail: str, element: int | None, line: int, column: int, offset: int):
        super().__init__(detail)
        self.detail, self.element, self.line, self.column, self.offset = detail, element, line, column, offset


@dataclass(frozen=True, slots=True)
class Element:
    index: int
    data: bytes | None
    """The element's bytes without the whitespace around it; None when longer than max_element."""
    size: int
    """Its length in bytes (also when `data` was not kept)."""
    offset: int
    line: int
    column: int
    """Where it begins in the body (line and column from 1; columns count characters)."""

    def where(self, offset: int) -> tuple[int, int]:
        """(line, column) in the body of a byte offset within this element's `data`."""
        assert self.data is not None
        before = self.data[:offset]
        newlines = before.count(b"\n")
        tail = before[before.rfind(b"\n") + 1:]
        column = len(tail.translate(None, _CONTINUATION))
        return self.line + newlines, (self.column + column if newlines == 0 else column + 1)


class Splitter:
    """Fed chunks in order, gives the elements completed so far; `end()` when the body is over.

    In an array, depth 1 is the array itself; a body that does not begin with `[` is one element
    (a single event), depth 0 its top. `max_depth` bounds how deep the body nests (the array
    counts), as the whole-body check before it did.
    """

    def __init__(self, max_element: int, max_depth: int):
        self.max_element, self.max_depth = max_element, max_depth
        self.buf = bytearray()
        self.pos = 0
        """Where scanning resumes in `buf`."""
        self.base = 0
        """The body offset of buf[0]; bytes before it were dropped."""
        self.base_line, self.base_column = 1, 0
        """Line (from 1) and characters into it at buf[0]."""
        self.mark = (0, 1, 0)
        """The last position counted: (index in buf, line, characters into it)."""
        self.mode: str | None = None
        """None until the first non-whitespace byte: "array" or "single"; "done" after the array's `]`."""
        self.depth = 0
        self.in_string = False
        self.escaped = False
        """Inside a string: the byte at `pos` is escaped (an odd run of backslashes ends before it)."""
        self.index = 0
        self.start: int | None = None
        """Where the element being read begins in buf (its delimiter's next byte); None between."""
        self.dropped = 0
        """Bytes of the element being read that were not kept (it is over max_element)."""
        self.trailing = 0
        """Whitespace at the end of what was dropped of it, so far."""
        self.seen_element = False
        self.quick = True
        """The element being read may go the quick way (_object_end)."""
        self.tries = 0
        """The quick way's failed tries at the element being read."""
        self.searched = 0
        """Where the quick way's search for the element's end resumes in buf."""
        self.began = (0, 1, 1)
        """Where the element being dropped began (body offset, line, column)."""

    def feed(self, chunk: bytes) -> list[Element]:
        self.buf += chunk
        out: list[Element] = []
        self._scan(out)
        self._compact()
        return out

    def end(self) -> list[Element]:
        out: list[Element] = []
        if self.quick and self.mode == "array":  # an element whose end never came: scanned exactly, to say where it broke
            self.quick = False
            self._scan(out)
        if self.in_string:
            raise self._error("the body ends inside a string", len(self.buf))
        if self.mode is None:
            raise self._error("the body is empty", len(self.buf), element=None)
        if self.mode == "single":
            if self.depth != 0:
                raise self._error("the body ends before its value is closed", len(self.buf))
            out.append(self._element(len(self.buf)))
        elif self.mode == "array":
            raise self._error("the body ends before the array is closed with ]", len(self.buf))
        return out

    def _scan(self, out: list[Element]) -> None:
        buf = self.buf
        while True:
            if self.in_string:
                if not self._string_end():
                    return
                continue
            if self.mode is None or self.mode == "done":
                found = self._non_whitespace(self.pos)
                if found is None:
                    self.pos = len(buf)
                    return
                if self.mode == "done":
                    raise self._error("the body goes on after the array's closing ]", found, element=None)
                self.mode = "array" if buf[found] == 0x5B else "single"
                self.start = found
                self.pos = found
                if self.mode == "array":
                    self.depth = 1
                    self._next(found + 1)
                continue
            if self.quick and self.mode == "array" and self.depth == 1 and self.pos == self.start:
                found_end = self._object_end(out)
                if found_end is None:
                    return
                if found_end:
                    continue
                self.quick = False  # this element the byte-exact way below
            m = _STRUCTURE.search(buf, self.pos)
            if m is None:
                self.pos = len(buf)
                return
            at, byte = m.start(), buf[m.start()]
            self.pos = at + 1
            if byte == 0x22:  # "
                self.in_string = True
            elif byte in b"[{":
                self.depth += 1
                if self.depth > self.max_depth:
                    raise self._error(f"the body nests arrays or objects more than {self.max_depth} levels deep", at)
            elif byte in b"]}":
                if self.mode == "array" and self.depth == 1:
                    if byte != 0x5D:
                        raise self._error("a } closes the array", at)
                    self._delimited(at, out, closing=True)
                    self._closed()
                    continue
                self.depth -= 1
                if self.depth < 0:
                    raise self._error(f"a {chr(byte)} closes nothing", at)
            elif self.mode == "array" and self.depth == 1:  # a comma between elements
                self._delimited(at, out, closing=False)
                self._next(at + 1)

    def _object_end(self, out: list[Element]) -> bool | None:
        """The quick way through an event (an object): the first `}` followed by a delimiter after
        which msgspec reads the bytes from the element's start as one whole JSON value is its end
        (a `},` inside a string leaves that string unterminated, so msgspec refuses it there).
        True: the element is out; None: its end has not arrived yet; False: take the slow way
        (not an object, a `},` in a string, malformed, too deep, or too long to keep)."""
        buf, start = self.buf, self.start
        assert start is not None
        first = self._non_whitespace(start)
        if first is None:
            return None
        if buf[first] != 0x7B:  # {
            return False
        while True:
            m = _OBJECT_END.search(buf, max(first, self.searched))
            if m is None:
                if len(buf) - first > self.max_element:
                    return False
                self.searched = max(first, buf.rfind(b"}", first))  # a } at the end may yet be followed by a delimiter
                return None
            data = bytes(buf[first:m.start() + 1])
            if nesting(data) > self.max_depth - 1:
                return False
            try:
                msgspec.json.decode(data, type=msgspec.Raw)
                break
            except (msgspec.DecodeError, RecursionError):  # an inner object's end (or not JSON): the next one
                self.tries += 1
                if self.tries > QUICK_TRIES:
                    return False
                self.searched = m.start() + 1
        self.seen_element = True
        out.append(self._element(m.start() + 1))
        if m.group(1) == b"]":
            self.pos = m.end()
            self._closed()
        else:
            self._next(m.end())
        return True

    def _next(self, at: int) -> None:
        """The next element begins at `at` (after a comma)."""
        self.start = self.pos = self.searched = at
        self.quick, self.tries = True, 0

    def _closed(self) -> None:
        self.mode, self.depth, self.start = "done", 0, None

    def _string_end(self) -> bool:
        """Inside a string: past its closing quote (True), or to the end of what has arrived.
        memchr-speed finds of the next quote; a quote is the end unless an odd run of backslashes
        stands before it (`escaped`: the run before `pos` was odd, carried across chunks)."""
        buf, pos = self.buf, self.pos
        while True:
            quote = buf.find(b'"', pos)
            seen = bytes(buf[pos:len(buf) if quote < 0 else quote])
            run = len(seen) - len(seen.rstrip(b"\\"))
            odd = (run + self.escaped) % 2 == 1 if run == len(seen) else run % 2 == 1
            if quote < 0:
                self.pos, self.escaped = len(buf), odd
                return False
            pos, self.escaped = quote + 1, False
            if not odd:
                self.pos, self.in_string = pos, False
                return True

    def _delimited(self, at: int, out: list[Element], closing: bool) -> None:
        """The element before the delimiter at `at` is complete."""
        assert self.start is not None
        empty = self.dropped == 0 and not self.buf[self.start:at].strip(WHITESPACE)
        if empty:
            if closing and not self.seen_element:  # `[]` or `[ ]`: no events
                return
            raise self._error("an array element is missing (two commas, or a comma before ] or after [)", at)
        self.seen_element = True
        out.append(self._element(at))

    def _element(self, end: int) -> Element:
        assert self.start is not None
        raw = bytes(self.buf[self.start:end])
        if self.dropped:  # too long to keep: its size and where it began
            stripped = raw.rstrip(WHITESPACE)
            trailing = len(raw) - len(stripped) + (self.trailing if not stripped else 0)
            element = Element(self.index, None, self.dropped + len(raw) - trailing, *self.began)
            self.dropped = self.trailing = 0
        else:
            lead = len(raw) - len(raw.lstrip(WHITESPACE))
            data = raw.strip(WHITESPACE)
            element = Element(self.index, data if len(data) <= self.max_element else None, len(data),
                              *self._position(self.start + lead))
        self.index += 1
        return element

    def _compact(self) -> None:
        """Drop what is scanned and not part of a kept element; stop keeping an element that has
        outgrown max_element (only its size and start are told then)."""
        if self.start is not None:
            scanned = self.buf[self.start:self.pos]
            outgrown = False
            if not self.dropped:
                self.start += len(scanned) - len(scanned.lstrip(WHITESPACE))  # the whitespace before it is not it
                scanned = self.buf[self.start:self.pos]
                # Whitespace at the end may be after the element's end (the delimiter still to come): not counted.
                outgrown = len(scanned.rstrip(WHITESPACE)) > self.max_element
                if outgrown:
                    self.began = self._position(self.start)
            if self.dropped or outgrown:
                stripped = scanned.rstrip(WHITESPACE)
                self.trailing = len(scanned) - len(stripped) + (self.trailing if not stripped else 0)
                self.dropped += len(scanned)
                self.start = self.pos
        keep_from = self.pos if self.start is None else self.start
        if keep_from:
            self._drop(keep_from)

    def _drop(self, n: int) -> None:
        gone = self.buf[:n]
        newlines = gone.count(b"\n")
        tail = gone[gone.rfind(b"\n") + 1:] if newlines else gone
        chars = len(tail.translate(None, _CONTINUATION))
        self.base_line += newlines
        self.base_column = chars if newlines else self.base_column + chars
        self.base += n
        self.mark = (0, self.base_line, self.base_column)
        del self.buf[:n]
        self.pos -= n
        self.searched = max(0, self.searched - n)
        if self.start is not None:
            self.start -= n

    def _position(self, i: int) -> tuple[int, int, int]:
        """(body offset, line, column) of buf[i]; counted on from the last one asked (they come in
        order), so a chunk of many elements is counted through once."""
        at, line, column = self.mark if self.mark[0] <= i else (0, self.base_line, self.base_column)
        between = self.buf[at:i]
        newlines = between.count(b"\n")
        tail = between[between.rfind(b"\n") + 1:] if newlines else between
        chars = len(tail.translate(None, _CONTINUATION))
        line, column = line + newlines, (chars if newlines else column + chars)
        self.mark = (i, line, column)
        return self.base + i, line, column + 1

    def _non_whitespace(self, i: int) -> int | None:
        found = _NON_WHITESPACE.search(self.buf, i)
        return None if found is None else found.start()

    def _error(self, detail: str, i: int, element: int | None = -1) -> BodyError:
        offset, line, column = self._position(i)
        return BodyError(detail, self.index if element == -1 else element, line, column, offset)


async def elements(chunks: AsyncIterable[bytes], max_element: int, max_depth: int) -> AsyncIterator[Element]:
    """The elements of the body `chunks` carry, each as soon as it is complete; BodyError when
    the body is not an array of elements (or one value)."""
    splitter = Splitter(max_element, max_depth)
    async for chunk in chunks:
        for element in splitter.feed(chunk):
            yield element
    for element in splitter.end():
        yield element
