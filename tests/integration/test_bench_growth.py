"""`civic bench --growth` (bench/growth.py, civic/growth.py) on small levels: the history written
in bulk is what the ledger itself would have stored, the real ledger accepts the window on top of
it, and the run reports every level with its chart."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import msgspec
import pytest

from adapters.eventstore import open_recorder
from bench.growth import INDEX, READ_MODEL, REBUILT, copy_read_model, fold, index, run, side_by_side
from civic.growth import history, window_stage
from config import Settings
from fold_kit import everything
from projections.event_index import EventStatus, event_status
from projections.rebuild import StoreReader
from projections.store import SQLiteDatabase
from schemas import TicketRaised, decode, topology

pytestmark = pytest.mark.integration


def stored(data_dir: Path) -> list[tuple]:
    """Every stored event: aggregate, version, type, and the fact less its sealed data (the
    ciphertexts differ by their random nonces), with the resident ids that were sealed."""
    out = []
    for n in open_recorder(Settings(data_dir=data_dir)).select_notifications(start=1, limit=100_000):
        fact = decode(n.state, max_bytes=None)
        out.append((n.originator_id, n.originator_version, n.topic,
                    msgspec.structs.replace(fact, sealed=()), [s.resident_id for s in fact.sealed]))
    return out


def test_history_in_bulk_is_what_the_ledger_stores(tmp_path: Path) -> None:
    bulk, ruled = tmp_path / "bulk", tmp_path / "ruled"
    bulk.mkdir(), ruled.mkdir()
    history(bulk, 0, 5200, 700)  # the org tree and some tickets, across batch boundaries
    history(bulk, 5200, 800, 300)  # a second run: tickets begun in the first go on
    window_stage(ruled, 0, 6000, 1000)  # the ledger application, every rule checked
    assert stored(bulk) == stored(ruled)
    window_stage(bulk, 6000, 1000, 250)  # and the ledger takes the next events on top of the bulk history


def tables(database: Path) -> list:
    """Every row of every table of a read model, in order, and every non-zero figure of its counter
    tables (fold_kit.everything: a counter row may be left at zero by one batching and never
    written by another, so those rows and the days they span are not the read model's figures)."""
    db = SQLiteDatabase(database, readonly=True)
    try:
        return everything(db)
    finally:
        db.close()


def test_history_folded_beside_its_writer_is_what_the_projector_folds(tmp_path: Path) -> None:
    """The pre-fill's fold follows the bulk writer as it commits (windows of whatever is there, up
    to 1,500 here): its read model is the one the projector's batches of 1,000 make of the ledger's
    own store, table for table, row for row, figure for figure."""
    bulk, ruled = tmp_path / "bulk", tmp_path / "ruled"
    bulk.mkdir(), ruled.mkdir()
    me = [sys.executable, "-m"]
    side_by_side([*me, "civic.growth", "create", str(bulk)])
    written, folded = side_by_side([*me, "civic.growth", "history", str(bulk), "0", "6200", "700"],
                                   [*me, "bench.growth", "fold", str(bulk), "0", "6200", "1500", "follow"])
    assert written["rate"] > 0 and folded["cpu_us"] > 0
    window_stage(ruled, 0, 6200, 1000)
    fold(ruled, 0, 6200, 1000)
    ours, projectors = tables(bulk / "growth-dashboard.sqlite"), tables(ruled / "growth-dashboard.sqlite")
    assert sum(len(rows) for _, rows in projectors) > 6200  # the trail alone has a row per event
    assert ours == projectors


def test_a_stage_that_fails_stops_the_one_beside_it(tmp_path: Path) -> None:
    """A fold following a writer that dies would wait for ever: it is stopped, the writer's error raised."""
    me = [sys.executable, "-m"]
    side_by_side([*me, "civic.growth", "create", str(tmp_path)])
    with pytest.raises(RuntimeError, match="civic.growth history failed"):
        side_by_side([*me, "civic.growth", "history", str(tmp_path), "17", "100", "50"],  # not where the store is
                     [*me, "bench.growth", "fold", str(tmp_path), "0", "100", "50", "follow"])


def test_a_growth_run_reports_each_level(tmp_path: Path) -> None:
    out = tmp_path / "out"
    # Batches smaller than the window, and unlike each other: each fold's batch is what it committed.
    levels = run(out, [sys.executable, "-m", "civic.growth"], tmp_path / "run", (5500, 8000), 1000, live_batch=250, rebuild_batch=600)
    assert [x.history for x in levels] == [5500, 8000]
    assert all(x.ledger_rate > 0 and x.fold_rate > 0 and x.rebuild_rate > 0 and x.dashboard_p99_ms > 0 for x in levels)
    assert [(x.fold_batch, x.rebuild_batch) for x in levels] == [(250, 600), (250, 600)]
    assert [row["history"] for row in json.loads((out / "growth.json").read_text())] == [5500, 8000]
    assert [row["rebuild_batch"] for row in json.loads((out / "growth.json").read_text())] == [600, 600]
    table = (out / "growth.md").read_text()
    assert "| 8,000 |" in table and "live projector's fold, batches of 250" in table and "rebuild's fold, batches of 600" in table
    assert "event index, batches of 250" in table and all(x.index_rate > 0 and x.index_cpu_us > 0 for x in levels)
    assert not list((tmp_path / "run" / "data").glob("growth-rebuilt*"))  # the rebuild's copy is gone with its stage
    svg = ET.parse(out / "growth.svg").getroot()
    assert len(svg.findall("{http://www.w3.org/2000/svg}polyline")) == 5
    store = StoreReader(Settings(data_dir=tmp_path / "run" / "data"))
    for level in (5500, 8000):  # every window's tickets arrive from the first of a month on (window_from_a_month_start)
        arrived = [e.occurred_at for _, e in store.read(level, level + 1000, 1000) if isinstance(e, TicketRaised)]
        assert min(arrived).day == 1 and min(arrived).hour == 8, min(arrived)
    store.close()


def test_the_rebuilds_fold_of_the_window_ends_where_the_live_one_does(tmp_path: Path) -> None:
    """The rebuild's stage folds the window on a copy of the read model as it was before it: the
    copy goes on from the same position and ends with the same figures at another batching."""
    me = [sys.executable, "-m"]
    side_by_side([*me, "civic.growth", "create", str(tmp_path)])
    side_by_side([*me, "civic.growth", "history", str(tmp_path), "0", "6000", "2000"])
    fold(tmp_path, 0, 4000, 1000)
    copy_read_model(tmp_path)
    live, rebuilt = fold(tmp_path, 4000, 2000, 300), fold(tmp_path, 4000, 2000, 1500, model=REBUILT)
    assert (live["batch"], rebuilt["batch"]) == (300, 1500)
    figures = tables(tmp_path / READ_MODEL)
    assert sum(len(rows) for _, rows in figures) > 6000  # the trail alone has a row per event
    assert tables(tmp_path / REBUILT) == figures


def test_the_index_stage_indexes_every_event_as_the_projectors_indexer_does(tmp_path: Path) -> None:
    """The history's pre-fill and the window's stage, one after the other, leave the event index
    the projector's indexer would: every event accepted at its position, its intake sequence the
    same (nothing was refused), on its own subjects, and each stream's position stored."""
    me = [sys.executable, "-m"]
    side_by_side([*me, "civic.growth", "create", str(tmp_path)])
    side_by_side([*me, "civic.growth", "history", str(tmp_path), "0", "3000", "1000"])
    index(tmp_path, 0, 2000, 700, history=True)
    figures = index(tmp_path, 2000, 1000, 300)
    assert figures["rate"] > 0 and figures["cpu_us"] > 0
    db = SQLiteDatabase(tmp_path / INDEX, readonly=True)
    try:
        events = [(n.id, decode(n.state, max_bytes=None))
                  for n in open_recorder(Settings(data_dir=tmp_path)).select_notifications(start=1, limit=10_000)]
        assert len(events) == 3000
        assert [event_status(db, e.event_id) for _, e in events] == [EventStatus(e.event_id, "ledger", p, p) for p, e in events]
        assert db.query("SELECT name, position FROM tracking ORDER BY name") == [(topology.INTAKE, 3000), (topology.LEDGER, 3000)]
        assert db.query("SELECT subject FROM accepted WHERE position=3000")[0][0] == topology.ledger_subject(events[-1][1].type, events[-1][1].org_path)
        assert db.query("SELECT subject FROM intake WHERE sequence=3000")[0][0] == topology.intake_subject(events[-1][1], events[-1][1].org_path)
    finally:
        db.close()
    with pytest.raises(AssertionError, match="the index is at 3000, not 2000"):  # a stage that does not go on from the index's end
        index(tmp_path, 2000, 1000, 300)
