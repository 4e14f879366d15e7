"""The event index: what became of an event_id, for integrators (GET /v1/events/{event_id}).

Follows three streams into one store, each with its own position written in the same
transaction as its rows: CIVIC_INTAKE (the event arrived: pending), CIVIC_LEDGER (accepted, at
a position) and CIVIC_REJECTED (refused, with the reason). It keeps ids, sequences, subjects (the
org path a reader's scope is checked against), the time of a refusal and reason codes only: no
event content, no personal data. Intake and the rejections are read headers only; an intake
message sent without Nats-Msg-Id (a producer outside the SDK) names its event in its body alone,
so the indexer reads that one body for its id (`needs_body`, projections/projector.py) and keeps
nothing else of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone

import msgspec
from nats.aio.msg import Msg

from projections.store import Database, primary_key, rewrite_table
from schemas import rejected as rj
from schemas import topology
from schemas.permissions import ANY_ORG
from schemas.topology import INTAKE, LEDGER

log = logging.getLogger("civic.events")

NAME = "events"
STREAMS = topology.STREAM_SUBJECTS


class _Id(msgspec.Struct):
    event_id: str | None = None


_event_id = msgspec.json.Decoder(_Id).decode


ADDED_COLUMNS = (("intake", "subject"), ("accepted", "subject"), ("rejected", "subject"), ("rejected", "at"))
"""Columns added after the first version of the index: an index built before them gains them
empty (its older rows answer without an org, so no scoped reader sees them)."""


def upgrading(db: Database) -> list[str]:
    """The tables of the index not keyed as SEGMENTED says: keyed by event id alone (built before
    segments), or cut into segments of another size (built before SEGMENT_BITS was what it is).
    create_schema rewrites them at the indexer's start; the web answers 503 meanwhile
    (projections/readside.py)."""
    return [t for t in SEGMENTED if (key := primary_key(db, t)) and (key != ("segment", "event_id") or _cut_otherwise(db, t))]


def _cut_otherwise(db: Database, table: str) -> bool:
    """Whether a table's segments were cut at another size than SEGMENT_BITS: its newest row says,
    as a rewrite cuts every row at once (positions below the smaller size are in segment 0 at any)."""
    order = SEGMENTED[table][0]
    rows = db.query(f"SELECT segment, {order} FROM {table} ORDER BY segment DESC LIMIT 1")
    return bool(rows) and rows[0][0] != segment(rows[0][1])


def create_schema(db: Database) -> None:
    text = 'TEXT COLLATE "C"' if db.dialect == "postgres" else "TEXT"
    big = "BIGINT" if db.dialect == "postgres" else "INTEGER"
    real = "DOUBLE PRECISION" if db.dialect == "postgres" else "REAL"
    with db.transaction():
        for sql in (
            f"CREATE TABLE IF NOT EXISTS tracking (name {text} PRIMARY KEY, position {big} NOT NULL)",
            *(_segmented(table, text, big).format(name=table) for table in SEGMENTED),
            f"CREATE TABLE IF NOT EXISTS rejected (intake_sequence {big} PRIMARY KEY, event_id {text}, reason {text} NOT NULL, detail {text}, field {text})",
            "CREATE INDEX IF NOT EXISTS rejected_event ON rejected (event_id)",
        ):
            db.execute(sql)
        for table, column in ADDED_COLUMNS:
            kind = real if column == "at" else text
            if db.dialect == "postgres":
                db.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {kind}")
            elif column not in {row[1] for row in db.query(f"PRAGMA table_info({table})")}:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        db.execute("CREATE INDEX IF NOT EXISTS rejected_at ON rejected (at)")
        for table in upgrading(db):  # built before segments, or cut at another size
            order = SEGMENTED[table][0]
            log.info("event index: keying %s by segments of %d positions (a one-time rewrite of its rows)", table, 1 << SEGMENT_BITS)
            rewrite_table(db, table, _segmented(table, text, big), ("segment", "event_id", order, "subject"),
                          (f"{order} >> {SEGMENT_BITS}", "event_id", order, "subject"), order)


# -- segments ---------------------------------------------------------------------------------
#
# An event id is a hash (the producers' uuids), so in a B-tree keyed by it each insert lands on a
# random page: once the index outgrows the writer's page cache, every event cost a page read and a
# page written for each of the two tables, more of them the longer the history (measured with the
# growth bench: 25 -> 39 µs per event from 100k to 1M events; docs/benchmarks.md). The rows are
# keyed (segment, event_id) instead, the segment being the stream position's high bits: inserts
# land in the newest segment's part of the tree, which is as large at any length of history.
#
# Within a segment the cost still grows as it fills: a batch's random ids dirty more of its leaves,
# each a page the commit writes (about 17 µs per event early in a segment of 2**19 positions, 42 at
# its end; docs/bench/2026-11-29/segments/). Segments of 2**16 positions keep that saw-tooth low and
# short: 18-20 µs per event over any 50,000 events, at 100k, 1M or 5M of history. The price is on
# the look-ups by id, which seek each segment, newest first: 77 segments at 5M events, about 0.6 ms
# for GET /v1/events/{id} and 0.16 ms for each id a waiting producer asks about that is not yet in
# the ledger (those found stop the search, and they are mostly recent). Look-ups are rare beside
# inserts, which every event pays.

SEGMENT_BITS = 16
"""A segment holds 2**16 = 65,536 stream positions."""
SEGMENTED = {"intake": ("sequence", INTAKE), "accepted": ("position", LEDGER)}
"""The tables keyed (segment, event_id): the column of the stream position their segment is cut
from, and that stream."""


def _segmented(table: str, text: str, big: str) -> str:
    """CREATE TABLE for one of SEGMENTED, named `{name}`."""
    return (f"CREATE TABLE IF NOT EXISTS {{name}} (segment INTEGER NOT NULL, event_id {text} NOT NULL, "
            f"{SEGMENTED[table][0]} {big} NOT NULL, subject {text}, PRIMARY KEY (segment, event_id))")


def segment(position: int) -> int:
    return position >> SEGMENT_BITS


def _segments(db: Database, stream: str) -> list[int]:
    """The segments a stream's rows may be in, newest first."""
    return list(range(segment(_tracked(db, stream)), -1, -1))


def _first(db: Database, table: str, event_id: str) -> tuple | None:
    """(stream position, subject) of an event id's first row in `table`, else None. An id is in
    intake again when it is sent again after the duplicate window (e.g. resent after a refusal),
    in the same or a later segment: the first sending is the one an answer names."""
    order, stream = SEGMENTED[table]
    segments = _segments(db, stream)
    rows = db.query(f"SELECT {order}, subject FROM {table} WHERE segment IN ({','.join('?' * len(segments))}) AND event_id=? "
                    f"ORDER BY {order} LIMIT 1", (*segments, event_id))
    return rows[0] if rows else None


def _header_id(m: Msg) -> str | None:
    """The event id a producer put in Nats-Msg-Id (the SDK and the gateway always do); a
    rejection's `intake-<sequence>` is the ledger's, not an event id."""
    value = (m.headers or {}).get("Nats-Msg-Id")
    return topology.event_id_of_message_id(value) if value and not value.startswith("intake-") else None


def needs_body(m: Msg) -> bool:
    """An intake message read headers only whose event id is in its body alone."""
    return _header_id(m) is None and not m.data


def _id_of(m: Msg) -> str | None:
    """The one place an intake or ledger message's event id is read: its header, else its body."""
    found = _header_id(m)
    if found is not None:
        return found
    try:
        return _event_id(m.data).event_id if m.data else None
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
                rows = [(segment(n := m.metadata.sequence.stream), i, n, m.subject) for m in todo if (i := _id_of(m))]
                self.db.executemany("INSERT INTO intake (segment, event_id, sequence, subject) VALUES (?, ?, ?, ?) "
                                    "ON CONFLICT (segment, event_id) DO NOTHING", rows)
            elif stream == LEDGER:
                rows = [(segment(n := m.metadata.sequence.stream), (m.headers or {}).get(topology.EVENT_ID_HEADER) or _id_of(m), n,
                         m.subject) for m in todo]
                self.db.executemany("INSERT INTO accepted (segment, event_id, position, subject) VALUES (?, ?, ?, ?) "
                                    "ON CONFLICT (segment, event_id) DO NOTHING", rows)
            else:
                rows = []
                for m in todo:
                    h = m.headers or {}
                    rows.append((int(h[topology.INTAKE_SEQUENCE_HEADER]), h.get(topology.EVENT_ID_HEADER), h[topology.REASON_HEADER],
                                 h.get(topology.REASON_TEXT_HEADER), h.get(topology.FIELD_HEADER),
                                 h.get(topology.INTAKE_SUBJECT_HEADER), m.metadata.timestamp.timestamp()))
                self.db.executemany("INSERT INTO rejected (intake_sequence, event_id, reason, detail, field, subject, at) "
                                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (intake_sequence) DO NOTHING", rows)
            self.db.execute("INSERT INTO tracking VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position=excluded.position",
                            (stream, todo[-1].metadata.sequence.stream))
        return len(todo)


Scope = frozenset[str] | None
"""The org units whose subtrees a reader may see verdicts in (their ids anywhere on an event's org
path); None: every unit. A verdict out of scope answers exactly as an unknown event."""


def org_path(subject: str | None) -> tuple[str, ...]:
    """The org path of civic.<stage>.<type>.<org ids>; () when there is none to read."""
    tokens = (subject or "").split(".")
    return tuple(tokens[3:]) if len(tokens) > 3 and tokens[0] == topology.ROOT else ()


def in_scope(scope: Scope, subject: str | None) -> bool:
    return scope is None or ANY_ORG in scope or any(org in scope for org in org_path(subject))


def _sentence(code: str) -> str:
    return rj.REASONS[code].sentence if code in rj.REASONS else code


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


def event_status(db: Database, event_id: str, scope: Scope = None) -> EventStatus:
    """What became of an event: the ledger wins, then a rejection, then intake. Out of `scope`
    (its org path names none of the reader's units), or with no org path known, it is unknown."""
    accepted = [row] if (row := _first(db, "accepted", event_id)) else []
    intake = [row] if (row := _first(db, "intake", event_id)) else []
    seq = intake[0][0] if intake else None
    rows = db.query("SELECT intake_sequence, reason, detail, field, subject FROM rejected WHERE event_id=? OR intake_sequence=? "
                    "ORDER BY intake_sequence", (event_id, seq if seq is not None else -1))
    if scope is not None:
        subjects = [r[1] for r in (*accepted, *intake)] + [r[4] for r in rows]
        if not any(in_scope(scope, subject) for subject in subjects):
            return EventStatus(event_id, "unknown")
    rejections = [Rejected(r[0], r[1], _sentence(r[1]), r[2], r[3],
                           rj.REASONS[r[1]].resend_may_help if r[1] in rj.REASONS else False) for r in rows]
    if accepted:
        return EventStatus(event_id, "ledger", seq, accepted[0][0], later_rejections=rejections)
    if rejections:
        return EventStatus(event_id, "rejected", rejections[0].intake_sequence, rejection=rejections[0], later_rejections=rejections[1:])
    if seq is not None:
        return EventStatus(event_id, "pending", seq)
    return EventStatus(event_id, "unknown")


# -- refusals, listed -------------------------------------------------------------------------

class Refusal(msgspec.Struct, kw_only=True):
    """One message the ledger refused (a row of `civic rejections`, GET /v1/rejections)."""

    intake_sequence: int
    event_id: str | None
    """None when the message could not be read as far as its id."""
    reason: str
    sentence: str
    """The reason code's sentence (schemas/rejected.py)."""
    field: str | None
    detail: str | None
    """What exactly was wrong, with phone and ID numbers masked."""
    org_path: list[str]
    """The org path of the subject it was sent on, root first (empty if it had none)."""
    at: str | None
    """When it was refused (UTC, ISO 8601); None for refusals indexed before times were kept."""
    resend_may_help: bool


class RefusalQuery(msgspec.Struct, kw_only=True, frozen=True):
    """Filters of a listing, each optional; `since`/`until` are Unix times (until excluded)."""

    reason: str | None = None
    org: str | None = None
    """A unit: refusals anywhere in its subtree (on its path)."""
    since: float | None = None
    until: float | None = None
    event_id: str | None = None
    limit: int = 100


MAX_LISTED = 1000
"""The most refusals one listing answers."""


class BadFilter(ValueError):
    def __init__(self, field: str, sentence: str):
        super().__init__(sentence)
        self.field = field


def refusal_query(*, reason: str | None = None, org: str | None = None, since: datetime | str | None = None,
                  until: datetime | str | None = None, event_id: str | None = None, limit: int = 100) -> RefusalQuery:
    """The filters of a listing from what a reader asked (the CLI, GET /api/rejections, GET
    /v1/rejections), checked once here; BadFilter names the filter and says what is wrong.
    `since`/`until`: instants with an offset, or their ISO 8601 text (until excluded)."""
    if not 1 <= limit <= MAX_LISTED:
        raise BadFilter("limit", f"limit is between 1 and {MAX_LISTED}")
    since, until = _instant("since", since), _instant("until", until)
    if since is not None and until is not None and since >= until:
        raise BadFilter("until", "until must be after since")
    return RefusalQuery(reason=reason, org=org, since=since.timestamp() if since else None,
                        until=until.timestamp() if until else None, event_id=event_id, limit=limit)


def _instant(name: str, value: datetime | str | None) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise BadFilter(name, f"{name} is an ISO 8601 date-time with an offset, e.g. 2026-03-01T00:00:00+08:00") from None
    if value is not None and value.tzinfo is None:
        raise BadFilter(name, f"{name} needs a UTC offset, e.g. 2026-03-01T00:00:00+08:00")
    return value


def refusals(db: Database, query: RefusalQuery, scope: Scope = None,
             mask: Callable[[str | None], str | None] = lambda text: text) -> list[Refusal]:
    """The newest refusals first that match `query` and lie in `scope`; `mask` is applied to each
    detail (the caller's personal-data rule: dashboards/masking.py)."""
    where, params = [], []
    for clause, value in (("reason = ?", query.reason), ("event_id = ?", query.event_id),
                          ("at >= ?", query.since), ("at < ?", query.until)):
        if value is not None:
            where.append(clause)
            params.append(value)
    sql = ("SELECT intake_sequence, event_id, reason, field, detail, subject, at FROM rejected"
           + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY intake_sequence DESC")
    out: list[Refusal] = []
    # Org and scope are read off each subject's path here, not in SQL: a LIKE on the subject
    # could match an event type's token or part of a longer id.
    for seq, event_id, reason, field, detail, subject, at in db.query(sql, params):
        path = org_path(subject)
        if (query.org is not None and query.org not in path) or not in_scope(scope, subject):
            continue
        out.append(Refusal(intake_sequence=seq, event_id=event_id, reason=reason, sentence=_sentence(reason), field=field,
                           detail=mask(detail), org_path=list(path),
                           at=datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds") if at is not None else None,
                           resend_may_help=rj.REASONS[reason].resend_may_help if reason in rj.REASONS else False))
        if len(out) >= query.limit:
            break
    return out


# -- verdicts for a producer that waits ----------------------------------------------------------

class Known(msgspec.Struct, frozen=True):
    """What the index knew, at its positions, about some events a producer has just sent."""

    ledger_position: int
    """CIVIC_LEDGER indexed up to here: later acceptances are the reader's to follow."""
    rejected_position: int
    """CIVIC_REJECTED indexed up to here."""
    accepted: dict[str, int]
    """event_id -> ledger position, for those of the events already in the ledger."""
    refused: dict[int, Refusal]
    """intake sequence -> its refusal, for those of the sequences already refused."""


def known(db: Database, event_ids: list[str], sequences: list[int]) -> Known:
    """The index's positions, then what it holds for these events: anything past the positions
    is for the reader to follow on the streams (so nothing falls between the two)."""
    with db.snapshot():
        ledger_position, rejected_position = _tracked(db, LEDGER), _tracked(db, topology.REJECTED)
        accepted: dict[str, int] = {}
        refused: dict[int, Refusal] = {}
        for chunk in range(0, len(event_ids), 500):
            ids = event_ids[chunk:chunk + 500]
            for part in _segments(db, LEDGER):  # newest first: the ids asked about are mostly recent
                marks = ",".join("?" * len(ids))
                accepted.update(db.query(f"SELECT event_id, position FROM accepted WHERE segment=? AND event_id IN ({marks})", (part, *ids)))
                if not (ids := [i for i in ids if i not in accepted]):
                    break
        for chunk in range(0, len(sequences), 500):
            seqs = sequences[chunk:chunk + 500]
            marks = ",".join("?" * len(seqs))
            for seq, event_id, reason, field, detail, subject, at in db.query(
                    f"SELECT intake_sequence, event_id, reason, field, detail, subject, at FROM rejected WHERE intake_sequence IN ({marks})", seqs):
                refused[seq] = Refusal(intake_sequence=seq, event_id=event_id, reason=reason, sentence=_sentence(reason),
                                       field=field, detail=detail, org_path=list(org_path(subject)), at=None,
                                       resend_may_help=rj.REASONS[reason].resend_may_help if reason in rj.REASONS else False)
    return Known(ledger_position, rejected_position, accepted, refused)


def _tracked(db: Database, stream: str) -> int:
    rows = db.query("SELECT position FROM tracking WHERE name=?", (stream,))
    return rows[0][0] if rows else 0
