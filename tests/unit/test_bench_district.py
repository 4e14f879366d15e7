"""The bench district's events as a stream that stops and goes on in another process
(`civic bench --growth` makes each event once across its stages)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import msgspec
import pytest

from bench.district import HISTORY_SPACING, LIVE_SPACING, Stream, events
from bench.growth import WINDOW, district


def history(n: int) -> list[tuple[str, bytes]]:
    return list(Stream(spacing=HISTORY_SPACING).take(n))


def test_a_stream_resumed_from_its_saved_state_goes_on_with_the_same_events() -> None:
    stream, parts = Stream(units=400, spacing=HISTORY_SPACING), []
    for n in (399, 1, 1777, 3, 7820):  # inside the org tree, at its end, inside tickets, past the end
        parts += stream.take(n)
        stream = Stream.resume(json.loads(json.dumps(stream.state())))  # as a file between processes
    assert parts == list(Stream(units=400, spacing=HISTORY_SPACING).take(10_000))
    assert parts != list(events(10_000, units=400))  # the spacing was kept, not reset to the live one


def days_spanned(messages: list[tuple[str, bytes]]) -> float:
    raised = [msgspec.json.decode(data)["occurred_at"] for subject, data in messages if ".TicketRaised." in subject]
    return (datetime.fromisoformat(raised[-1]) - datetime.fromisoformat(raised[0])).total_seconds() / 86400


def test_the_growth_history_fills_the_dashboards_window_at_its_smallest_level() -> None:
    # About 3,100 events a day, against 14,500 live: 150,000 events (the smallest level and the
    # window measured on top) are then ~47 days, more than the dashboard's 30.
    sample = 30_000
    per_day = {spacing: (sample - 5000) / days_spanned(list(Stream(spacing=spacing).take(sample)))
               for spacing in (LIVE_SPACING, HISTORY_SPACING)}
    assert 13_000 < per_day[LIVE_SPACING] < 16_000
    assert 2_800 < per_day[HISTORY_SPACING] < 3_400
    assert (100_000 + WINDOW - 5000) / per_day[HISTORY_SPACING] > 40


def test_the_growth_stages_share_one_stream_per_data_directory(tmp_path: Path) -> None:
    first, second = list(district(tmp_path, 0, 6100)), list(district(tmp_path, 6100, 900))
    assert first + second == history(7000)
    with pytest.raises(RuntimeError, match="go on at 7000, not at 6100"):
        list(district(tmp_path, 6100, 10))


def test_a_store_without_the_streams_state_goes_on_at_its_start(tmp_path: Path) -> None:
    assert list(district(tmp_path, 6000, 500)) == history(6500)[6000:]


def test_a_second_round_of_the_district_is_new_events_not_duplicates() -> None:
    """`civic bench` publishes renamed copies of the district's tickets (freshness, uncached reads,
    the gateway): every event id and ticket id must differ from the first round's, or the ledger
    drops them as duplicates and the phase waits for events that never come."""
    import schemas
    from bench.run import _renamed

    first = [m for m in events(5_200, seed=4) if b'"OrgUnitRegistered"' not in m[1][:40]]
    again = _renamed(first, "un1-")
    assert len(again) == len(first) > 100
    before = [schemas.decode(data) for _, data in first]
    after = [schemas.decode(data) for _, data in again]
    assert all(a.event_id == "un1-" + b.event_id for a, b in zip(after, before))
    tickets = [(a, b) for a, b in zip(after, before) if hasattr(b, "ticket_id")]
    assert tickets and all(a.ticket_id == "un1-" + b.ticket_id for a, b in tickets)
