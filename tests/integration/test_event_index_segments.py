"""The event index keyed (segment, event_id) (projections/event_index.py "segments"): answers are
the same wherever in history an event's rows are, on SQLite and PostgreSQL; an index from before
segments is rewritten in place, answering as before."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from nats.aio.msg import Msg

from projections.event_index import SEGMENT_BITS, EventIndex, EventStatus, create_schema, event_status, known
from projections.store import Database, PostgresDatabase, SQLiteDatabase
from schemas import topology

pytestmark = pytest.mark.integration

SEGMENT = 1 << SEGMENT_BITS


def message(stream: str, sequence: int, event_id: str) -> Msg:
    """A JetStream message as the indexer reads it: intake headers only with Nats-Msg-Id, the
    ledger's with Civic-Event-Id."""
    header = "Nats-Msg-Id" if stream == topology.INTAKE else topology.EVENT_ID_HEADER
    pair = Msg.Metadata.SequencePair(consumer=sequence, stream=sequence)
    return Msg(None, subject=f"civic.{'intake' if stream == topology.INTAKE else 'ledger'}.ticket.raised.d.t1",  # type: ignore[arg-type]
               headers={header: event_id}, _metadata=Msg.Metadata(sequence=pair, num_pending=0, num_delivered=1,
                                                                 timestamp=datetime.now(timezone.utc), stream=stream, consumer="t"))


@pytest.fixture(params=["sqlite", "postgres"])
def db(request, tmp_path: Path):
    database: Database = (SQLiteDatabase(tmp_path / "events.sqlite") if request.param == "sqlite"
                          else PostgresDatabase(request.getfixturevalue("postgres_url"), "events_v1"))
    yield database
    database.close()


def index(db: Database) -> None:
    """a: sent, accepted in the first segment, resent two segments later; b: sent and accepted in the
    second; c: sent in the second, accepted in the third; d: sent in the third, still pending."""
    create_schema(db)
    ix = EventIndex(db)
    ix.apply(topology.INTAKE, [message(topology.INTAKE, 5, "a"), message(topology.INTAKE, SEGMENT + 3, "b"),
                               message(topology.INTAKE, SEGMENT + 4, "c"), message(topology.INTAKE, 2 * SEGMENT + 1, "a"),
                               message(topology.INTAKE, 2 * SEGMENT + 2, "d")])
    ix.apply(topology.LEDGER, [message(topology.LEDGER, 7, "a"), message(topology.LEDGER, SEGMENT + 10, "b"),
                               message(topology.LEDGER, 2 * SEGMENT, "c")])


def test_answers_are_the_same_in_every_segment(db: Database) -> None:
    index(db)
    assert db.query("SELECT segment, event_id FROM accepted ORDER BY position") == [(0, "a"), (1, "b"), (2, "c")]
    assert event_status(db, "a") == EventStatus("a", "ledger", 5, 7)  # the first sending, not the resend
    assert event_status(db, "b") == EventStatus("b", "ledger", SEGMENT + 3, SEGMENT + 10)
    assert event_status(db, "c") == EventStatus("c", "ledger", SEGMENT + 4, 2 * SEGMENT)
    assert event_status(db, "d") == EventStatus("d", "pending", 2 * SEGMENT + 2)
    assert event_status(db, "e").status == "unknown"
    assert known(db, ["a", "b", "c", "d", "e"], []).accepted == {"a": 7, "b": SEGMENT + 10, "c": 2 * SEGMENT}


def test_a_look_up_seeks_each_segment_by_key(tmp_path: Path) -> None:
    db = SQLiteDatabase(tmp_path / "events.sqlite")
    index(db)
    for table in ("accepted", "intake"):
        plan = " ".join(str(row[-1]) for row in db.query(
            f"EXPLAIN QUERY PLAN SELECT subject FROM {table} WHERE segment IN (?, ?, ?) AND event_id=?", (2, 1, 0, "a")))
        assert f"sqlite_autoindex_{table}_1 (segment=? AND event_id=?)" in plan, plan
    db.close()


BEFORE = (  # the index's two keyed tables as they were before segments (subjects already added)
    "CREATE TABLE tracking (name {text} PRIMARY KEY, position BIGINT NOT NULL)",
    "CREATE TABLE intake (event_id {text} PRIMARY KEY, sequence BIGINT NOT NULL, subject {text})",
    "CREATE TABLE accepted (event_id {text} PRIMARY KEY, position BIGINT NOT NULL, subject {text})",
    "CREATE TABLE rejected (intake_sequence BIGINT PRIMARY KEY, event_id {text}, reason {text} NOT NULL, detail {text}, field {text})",
)


def test_an_index_from_before_segments_is_rewritten_in_place(db: Database) -> None:
    text = 'TEXT COLLATE "C"' if db.dialect == "postgres" else "TEXT"
    if db.dialect == "postgres":
        db.execute("CREATE SCHEMA IF NOT EXISTS events_v1")
    for sql in BEFORE:
        db.execute(sql.format(text=text))
    rows = [("a", 5, 7), ("b", SEGMENT + 3, SEGMENT + 10), ("c", SEGMENT + 4, 2 * SEGMENT)]
    db.executemany("INSERT INTO intake VALUES (?, ?, 'civic.intake.ticket.raised.d.t1')", [(i, s) for i, s, _ in rows])
    db.executemany("INSERT INTO accepted VALUES (?, ?, 'civic.ledger.ticket.raised.d.t1')", [(i, p) for i, _, p in rows])
    db.executemany("INSERT INTO tracking VALUES (?, ?)", [(topology.INTAKE, SEGMENT + 4), (topology.LEDGER, 2 * SEGMENT)])
    create_schema(db)
    create_schema(db)  # at every start: the second time changes nothing
    assert db.query("SELECT segment, event_id, position FROM accepted ORDER BY position") == [(0, "a", 7), (1, "b", SEGMENT + 10),
                                                                                            (2, "c", 2 * SEGMENT)]
    assert [event_status(db, i) for i, _, _ in rows] == [EventStatus(i, "ledger", s, p) for i, s, p in rows]
    EventIndex(db).apply(topology.LEDGER, [message(topology.LEDGER, 2 * SEGMENT + 1, "d")])  # and it goes on
    assert event_status(db, "d") == EventStatus("d", "ledger", None, 2 * SEGMENT + 1)


def test_an_index_cut_into_segments_of_another_size_is_cut_again(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """An index built when segments were 2**19 positions (before they were made smaller) is cut
    again at the indexer's start, and answers as before; the web is told it is being upgraded."""
    import projections.event_index as ix

    with monkeypatch.context() as before:
        before.setattr(ix, "SEGMENT_BITS", SEGMENT_BITS + 3)
        index(db)
        assert ix.upgrading(db) == []
        assert db.query("SELECT max(segment) FROM accepted") == [(0,)]  # 2 * SEGMENT is in the first of the larger ones
    assert ix.upgrading(db) == ["intake", "accepted"]
    create_schema(db)
    create_schema(db)  # at every start: the second time changes nothing
    assert ix.upgrading(db) == []
    assert db.query("SELECT segment, event_id FROM accepted ORDER BY position") == [(0, "a"), (1, "b"), (2, "c")]
    # a's resend was in a's own (larger) segment then, so it was not kept: the first sending is what answers
    assert db.query("SELECT segment, event_id FROM intake ORDER BY sequence") == [(0, "a"), (1, "b"), (1, "c"), (2, "d")]
    assert event_status(db, "a") == EventStatus("a", "ledger", 5, 7)
    assert event_status(db, "c") == EventStatus("c", "ledger", SEGMENT + 4, 2 * SEGMENT)
    assert event_status(db, "d") == EventStatus("d", "pending", 2 * SEGMENT + 2)
    assert known(db, ["a", "b", "c", "d"], []).accepted == {"a": 7, "b": SEGMENT + 10, "c": 2 * SEGMENT}


def test_a_small_index_is_not_rewritten(db: Database) -> None:
    """Positions all below one segment are in segment 0 whatever the size: nothing to cut again."""
    create_schema(db)
    EventIndex(db).apply(topology.LEDGER, [message(topology.LEDGER, 3, "a")])
    assert __import__("projections.event_index", fromlist=["upgrading"]).upgrading(db) == []
