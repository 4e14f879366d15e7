"""The event index: what became of an event_id, for integrators (GET /v1/events/{event_id}).

Follows three streams into one store, each with its own position written in the same
transaction as its rows: CIVIC_INTAKE (the event arrived: pending), CIVIC_LEDGER (accepted, at
a position) and CIVIC_REJECTED (refused, with the reason). It keeps ids, sequences and reason
codes only: no event content, no personal data.
"""

from __future__ import annotations

import msgspec
from nats.aio.msg import Msg

from projections.store import Database
from schemas import rejected as rj
from schemas import topology
from schemas.topology import INTAKE, LEDGER

NAME = "events"
STREAMS = topology.STREAM_SUBJECTS


class _Id(msgspec.Struct):
    event_id: str | None = None


_event_id = msgspec.json.Decoder(_Id).decode


def create_schema(db: Database) -> None:
    text = 'TEXT COLLATE "C"' if db.dialect == "postgres" else "TEXT"
    big = "BIGINT" if db.dialect == "postgres" else "INTEGER"
    with db.transaction():
        for sql in (
            f"CREATE TABLE IF NOT EXISTS tracking (name {text} PRIMARY KEY, position {big} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS intake (event_id {text} PRIMARY KEY, sequence {big} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS accepted (event_id {text} PRIMARY KEY, position {big} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS rejected (intake_sequence {big} PRIMARY KEY, event_id {text}, reason {text} NOT NULL, detail {text}, field {text})",
            "CREATE INDEX IF NOT EXISTS rejected_event ON rejected (event_id)",
        ):
            db.execute(sql)


def _id_of(m: Msg) -> str | None:
    headers = m.headers or {}
    if "Nats-Msg-Id" in headers and not headers["Nats-Msg-Id"].startswith("intake-"):
        return headers["Nats-Msg-Id"]
    try:
        return _event_id(m.data).event_id
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class EventIndex:
    def __init__(self, db: Database):
        self.db = db

    def position(self, stream: str) -> int:
        """How far this stream has been indexed."""
        rows = self.db.query("SELECT position FROM tracking WHERE name=?", (stream,))
        return rows[0][0] if rows else 0

    def apply(self, stream: str, msgs: list[Msg]) -> int:
        """Index one batch of a stream, with the stream's new position, in one transaction."""
        with self.db.transaction():
            done = self.position(stream)
            todo = [m for m in msgs if m.metadata.sequence.stream > done]
            if not todo:
                return 0
            rows: list[tuple[object, ...]]
            if stream == INTAKE:
                rows = [
(i, m.metadata.sequence.stream) for m in todo if (i := _id_of(m))]
                self.db.executemany("INSERT INTO intake VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING", rows)
            elif stream == LEDGER:
                rows = [((m.headers or {}).get(topology.EVENT_ID_HEADER) or _id_of(m), m.metadata.sequence.stream) for m in todo]
                self.db.executemany("INSERT INTO accepted VALUES (?, ?) ON CONFLICT (event_id) DO NOTHING", rows)
            else:
                rows = []
                for m in todo:
                    h = m.headers or {}
                    rows.append((int(h[topology.INTAKE_SEQUENCE_HEADER]), h.get(topology.EVENT_ID_HEADER), h[topology.REASON_HEADER], h.get(topology.REASON_TEXT_HEADER), h.get(topology.FIELD_HEADER)))
                self.db.executemany("INSERT INTO rejected VALUES (?, ?, ?, ?, ?) ON CONFLICT (intake_sequence) DO NOTHING", rows)
            self.db.execute("INSERT INTO tracking VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position=excluded.position",
                            (stream, todo[-1].metadata.sequence.stream))
        return len(todo)


class Rejected(msgspec.Struct):
    intake_sequence: int
    reason: str
    sentence: str
    detail: str | None
    field: str | None
    resend_may_help: bool
    """Whether a corrected event, under a new event_id, could be accepted."""


class EventStatus(msgspec.Struct):
    event_id: str
    status: str
    """unknown, pending (in intake, not yet decided), ledger (accepted) or rejected."""
    intake_sequence: int | None = None
    position: int | None = None
    """The ledger position, once accepted."""
    rejection: Rejected | None = None
    later_rejections: list[Rejected] = []
    """Resends of an accepted event_id that were refused (e.g. conflicting_duplicate)."""


def event_status(db: Database, event_id: str) -> EventStatus:
    """What became of an event: the ledger wins, then a rejection, then intake."""
    accepted = db.query("SELECT position FROM accepted WHERE event_id=?", (event_id,))
    intake = db.query("SELECT sequence FROM intake WHERE event_id=?", (event_id,))
    seq = intake[0][0] if intake else None
    rows = db.query("SELECT intake_sequence, reason, detail, field FROM rejected WHERE event_id=? OR intake_sequence=? "
                    "ORDER BY intake_sequence", (event_id, seq if seq is not None else -1))
    rejections = [Rejected(r[0], r[1], rj.REASONS[r[1]].sentence if r[1] in rj.REASONS else r[1], r[2], r[3],
                           rj.REASONS[r[1]].resend_may_help if r[1] in rj.REASONS else False) for r in rows]
    if accepted:
        return EventStatus(event_id, "ledger", seq, accepted[0][0], later_rejections=rejections)
    if rejections:
        return EventStatus(event_id, "rejected", rejections[0].intake_sequence, rejection=rejections[0], later_rejections=rejections[1:])
    if seq is not None:
        return EventStatus(event_id, "pending", seq)
    return EventStatus(event_id, "unknown")
