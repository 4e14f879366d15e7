"""The event index gains subjects and refusal times (issue 15); an index built before keeps working:
its older rows answer without an org, so a scoped reader never sees them, an unscoped one does."""

from __future__ import annotations

from pathlib import Path

from projections.event_index import RefusalQuery, create_schema, event_status, refusals
from projections.store import SQLiteDatabase

BEFORE = (  # the index's tables as the first version made them
    "CREATE TABLE tracking (name TEXT PRIMARY KEY, position INTEGER NOT NULL)",
    "CREATE TABLE intake (event_id TEXT PRIMARY KEY, sequence INTEGER NOT NULL)",
    "CREATE TABLE accepted (event_id TEXT PRIMARY KEY, position INTEGER NOT NULL)",
    "CREATE TABLE rejected (intake_sequence INTEGER PRIMARY KEY, event_id TEXT, reason TEXT NOT NULL, detail TEXT, field TEXT)",
    "INSERT INTO intake VALUES ('old-1', 1)",
    "INSERT INTO accepted VALUES ('old-1', 1)",
    "INSERT INTO intake VALUES ('old-2', 2)",
    "INSERT INTO rejected VALUES (2, 'old-2', 'ticket_finished', 'ticket T1 is closed', NULL)",
)


def test_an_index_from_before_is_upgraded_in_place(tmp_path: Path):
    db = SQLiteDatabase(tmp_path / "events-v1.sqlite")
    for sql in BEFORE:
        db.execute(sql)
    create_schema(db)
    create_schema(db)  # at every start: a second time changes nothing
    assert event_status(db, "old-1").status == "ledger"
    assert event_status(db, "old-1", frozenset({"lx"})).status == "unknown"
    assert event_status(db, "old-1", frozenset({"*"})).status == "ledger"
    (old,) = refusals(db, RefusalQuery())
    assert (old.event_id, old.reason, old.org_path, old.at) == ("old-2", "ticket_finished", [], None)
    assert refusals(db, RefusalQuery(), frozenset({"lx"})) == []
    assert refusals(db, RefusalQuery(since=0.0)) == []  # no time known: outside any window
    db.close()


def test_a_listings_filters_are_checked_once_for_every_door():
    from datetime import datetime, timedelta, timezone

    import pytest

    from projections.event_index import BadFilter, refusal_query

    cst = timezone(timedelta(hours=8))
    query = refusal_query(since=datetime(2026, 3, 1, tzinfo=cst), until=datetime(2026, 3, 2, tzinfo=cst), limit=5)
    assert (query.until or 0) - (query.since or 0) == 86400 and query.limit == 5
    for kwargs, field in (({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"since": datetime(2026, 3, 1)}, "since"),
                          ({"since": datetime(2026, 3, 2, tzinfo=cst), "until": datetime(2026, 3, 1, tzinfo=cst)}, "until")):
        with pytest.raises(BadFilter) as caught:
            refusal_query(**kwargs)  # type: ignore[arg-type]
        assert caught.value.field == field
