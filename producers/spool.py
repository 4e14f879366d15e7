"""The producer's local spool: events that could not be sent yet, kept on disk until NATS acks them.

Two files:
- `PATH` (JSON Lines, append-only): one line per event, `{"id", "subject", "event"}`, where
  `event` is the event's bytes verbatim (they are JSON; bytes with a line break in them go as
  base64 in `b64` instead) and `subject` is null when the org path could not be worked out
  offline (it is then resolved when the line is sent).
- `PATH.acked`: the byte offset up to which every line was acked by JetStream, replaced
  atomically (write, fsync, rename) after each acked chunk.

A line is reported as spooled only after fsync, so a crash never loses a spooled event. A crash
after a send but before the offset is written resends only the lines after the offset: their
Nats-Msg-Id (JetStream's duplicate window) and the ledger's memory of event ids store them once.
A torn last line (a crash inside an append, never reported as spooled) is cut off on open.
The spool is locked (flock) by the one producer using it; a second one is refused.
"""

from __future__ import annotations

import base64
import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

import msgspec


class SpoolLine(msgspec.Struct, frozen=True, omit_defaults=True):
    id: str
    subject: str | None
    event: msgspec.Raw
    b64: str | None = None

    @classmethod
    def of(cls, event_id: str, subject: str | None, data: bytes) -> SpoolLine:
        if b"\n" in data or b"\r" in data:  # pretty-printed JSON would break the one-line framing
            return cls(event_id, subject, msgspec.Raw(b"null"), base64.b64encode(data).decode())
        return cls(event_id, subject, msgspec.Raw(data))

    def data(self) -> bytes:
        return base64.b64decode(self.b64) if self.b64 is not None else bytes(self.event)


@dataclass(frozen=True, slots=True)
class Spooled:
    """A line read back: the event's bytes as they were given, and where the next line starts."""

    event_id: str
    subject: str | None
    data: bytes
    end: int


class SpoolInUse(RuntimeError):
    pass


_decode_line = msgspec.json.Decoder(SpoolLine).decode
_encoder = msgspec.json.Encoder()
CHUNK = 1 << 20


class Spool:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.acked_path = self.path.with_name(self.path.name + ".acked")
        self.file = open(self.path, "a+b")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.file.close()
            raise SpoolInUse(f"spool {self.path} is in use by another producer") from None
        self.acked = 0
        self.end = 0
        self.pending = 0
        """Lines appended and not yet acked."""
        self._recover()

    def _recover(self) -> None:
        fd = self.file.fileno()
        size = os.fstat(fd).st_size
        cut = self._last_line_end(size)  # a torn last line was never reported as spooled
        if cut < size:
            os.ftruncate(fd, cut)
            os.fsync(fd)
        self.end = cut
        try:
            acked = int(self.acked_path.read_text().strip() or 0)
        except FileNotFoundError:
            acked = 0
        # Beyond the end: the file was compacted (truncated) and the crash came before the
        # offset was reset. Everything in it had been acked.
        self.acked = min(acked, self.end)
        self.pending = self._count_lines(self.acked, self.end)
        if self.acked == self.end and self.end:
            self._compact()

    def _last_line_end(self, size: int) -> int:
        pos = size
        while pos > 0:
            start = max(0, pos - CHUNK)
            self.file.seek(start)
            at = self.file.read(pos - start).rfind(b"\n")
            if at >= 0:
                return start + at + 1
            pos = start
        return 0

    def _count_lines(self, start: int, end: int) -> int:
        self.file.seek(start)
        count = 0
        while start < end:
            chunk = self.file.read(min(CHUNK, end - start))
            count += chunk.count(b"\n")
            start += len(chunk)
        return count

    def append(self, lines: list[tuple[str, str | None, bytes]]) -> None:
        """Append (event_id, subject or None, event bytes) lines durably, in order."""
        if not lines:
            return
        blob = b"".join(_encoder.encode(SpoolLine.of(i, s, d)) + b"\n" for i, s, d in lines)
        self.file.seek(0, os.SEEK_END)
        self.file.write(blob)
        self.file.flush()
        os.fsync(self.file.fileno())
        self.end += len(blob)
        self.pending += len(lines)

    def peek(self, limit: int) -> list[Spooled]:
        """Up to `limit` unacked lines, oldest first."""
        self.file.seek(self.acked)
        out: list[Spooled] = []
        offset = self.acked
        while len(out) < limit and offset < self.end:
            raw = self.file.readline()
            if not raw.endswith(b"\n"):
                break
            offset += len(raw)
            line = _decode_line(raw)
            out.append(Spooled(line.id, line.subject, line.data(), offset))
        return out

    def ack(self, lines: list[Spooled]) -> None:
        """`lines`, the oldest unacked ones as peek() gave them, were acked: never send them again."""
        if not lines:
            return
        self.pending -= len(lines)
        self.acked = lines[-1].end
        if self.acked >= self.end:
            self._compact()
        else:
            self._write_acked(self.acked)

    def _compact(self) -> None:
        # Truncate first, then reset the offset: a crash in between leaves offset > size,
        # which _recover reads as "all acked". The other order could resend everything.
        os.ftruncate(self.file.fileno(), 0)
        os.fsync(self.file.fileno())
        self.end = self.acked = self.pending = 0
        self._write_acked(0)

    def _write_acked(self, offset: int) -> None:
        tmp = self.acked_path.with_name(self.acked_path.name + ".tmp")
        with open(tmp, "w") as f:
            f.write(f"{offset}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.acked_path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def set_aside(self, refused: list[tuple[Spooled, str]]) -> None:
        """Lines that can never be sent (e.g. their org unit is unknown) go to PATH.refused with the
        reason, so they do not hold up the ones behind them; the caller then acks them."""
        if not refused:
            return
        with open(self.path.with_name(self.path.name + ".refused"), "ab") as f:
            for line, reason in refused:
                f.write(_encoder.encode({"id": line.event_id, "reason": reason, "event": line.data.decode(errors="replace")}) + b"\n")
            f.flush()
            os.fsync(f.fileno())

    def close(self) -> None:
        if not self.file.closed:
            fcntl.flock(self.file, fcntl.LOCK_UN)
            self.file.close()
