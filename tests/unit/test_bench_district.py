"""The bench district's events as a stream that stops and goes on in another process
(`civic bench --growth` makes each event once across its stages)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.district import Stream, events
from bench.growth import district


def test_a_stream_resumed_from_its_saved_state_goes_on_with_the_same_events() -> None:
    stream, parts = Stream(units=400), []
    for n in (399, 1, 1777, 3, 7820):  # inside the org tree, at its end, inside tickets, past the end
        parts += stream.take(n)
        stream = Stream.resume(json.loads(json.dumps(stream.state())))  # as a file between processes
    assert parts == list(events(10_000, units=400))


def test_the_growth_stages_share_one_stream_per_data_directory(tmp_path: Path) -> None:
    first, second = list(district(tmp_path, 0, 6100)), list(district(tmp_path, 6100, 900))
    assert first + second == list(events(7000))
    with pytest.raises(RuntimeError, match="go on at 7000, not at 6100"):
        list(district(tmp_path, 6100, 10))


def test_a_store_without_the_streams_state_goes_on_at_its_start(tmp_path: Path) -> None:
    assert list(district(tmp_path, 6000, 500)) == list(events(6500))[6000:]
