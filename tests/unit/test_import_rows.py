"""Rows of a historical export -> ticket events: ids, pseudonyms, times, roles."""

from __future__ import annotations

import pytest

from producers.rows import RowError, RowMapper, event_id, pseudonym
from producers.sdk import check

ROW = dict(ticket_id="H-1", org_id="lx", category="parking", title="cars on the lane", channel="小程序",
           raised_at="2021-03-01 09:00", reporter_name="李华", reporter_phone="13800138000",
           dispatched_at="2021-03-01 10:00", accepted_at="2021-03-01 11:00", resolved_at="2021-03-02 09:00",
           rated_at="2021-03-02 18:00", satisfaction="基本满意", closed_at="2021-03-03 08:00")


def test_a_row_becomes_its_lifecycle_with_stable_ids() -> None:
    events = RowMapper("export.csv").events(ROW)
    assert [e.type for e in events] == ["TicketRaised", "TicketDispatched", "TicketAccepted", "TicketResolved",
                                        "TicketRated", "TicketClosed"]
    stages = ["raised", "dispatched", "accepted", "resolved", "rated", "closed"]
    assert [e.event_id for e in events] == [event_id("export.csv", "H-1", stage) for stage in stages]
    assert events == RowMapper("export.csv").events(dict(ROW)), "the same row, the same events"
    assert RowMapper("other.csv").events(ROW)[0].event_id != events[0].event_id
    raised, dispatched, *_ = events
    assert raised.occurred_at.isoformat() == "2021-03-01T09:00:00+08:00", "no offset: China Standard Time"
    assert raised.channel == "mini_program" and raised.actor.role == "resident"  # type: ignore[attr-defined]
    assert raised.personal[0].resident_id == raised.actor.id == pseudonym("138-0013-8000")
    assert dispatched.deadline.isoformat() == "2021-03-04T10:00:00+08:00"  # type: ignore[attr-defined]
    assert events[4].satisfaction == "basically_satisfied" and events[4].actor.id == raised.actor.id  # type: ignore[attr-defined]
    assert all(isinstance(check(e), tuple) for e in events)


def test_pseudonyms_are_keyed_when_a_key_is_given() -> None:
    assert pseudonym("13800138000") == pseudonym(" 138 0013 8000 ")
    assert pseudonym("13800138000", b"k1") != pseudonym("13800138000") != pseudonym("13800138000", b"k2")
    assert "13800138000" not in pseudonym("13800138000")


def test_a_row_without_a_reporter_is_raised_by_the_system_and_rated_by_a_call_back() -> None:
    row = {k: v for k, v in ROW.items() if not k.startswith("reporter")}
    events = RowMapper("x").events(row)
    assert events[0].actor.role == "system" and not events[0].personal
    assert events[4].actor.role == "dispatcher"


@pytest.mark.parametrize(("change", "column"), [
    (dict(ticket_id=""), "ticket_id"),
    (dict(raised_at="3/1"), "raised_at"),
    (dict(dispatched_at=""), "accepted_at"),
    (dict(closed_at="2021-03-02 10:00"), "closed_at"),
    (dict(satisfaction="so-so"), "satisfaction"),
    (dict(contacted="maybe", rated_at="2021-03-02 18:00"), "contacted"),
    (dict(org_id="lx.g1"), "org_id"),
    (dict(title="", description=""), "title"),
])
def test_bad_rows_name_the_column(change: dict[str, str], column: str) -> None:
    with pytest.raises(RowError) as e:
        RowMapper("x").events({**ROW, **change})
    assert e.value.field == column, e.value.reason
