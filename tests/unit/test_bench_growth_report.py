"""`civic bench --growth`'s report: the live projector's fold and a rebuild's, each at its own batch
(the rebuild's the one projections/rebuild.py commits), side by side with their ratios."""

from __future__ import annotations

import inspect
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from bench.growth import LIVE_BATCH, Level, report, run
from projections.rebuild import REBUILD_BATCH, rebuild


def test_the_growth_run_folds_the_rebuilds_window_at_the_batch_a_rebuild_commits() -> None:
    assert inspect.signature(rebuild).parameters["batch"].default == REBUILD_BATCH
    assert inspect.signature(run).parameters["rebuild_batch"].default == REBUILD_BATCH
    assert inspect.signature(run).parameters["live_batch"].default == LIVE_BATCH != REBUILD_BATCH


def level(history: int, live_us: float, rebuild_us: float, index_us: float = 40.0) -> Level:
    return Level(history=history, ledger_rate=9000.0, ledger_cpu_us=100.0, ledger_rss_mb=150.0,
                 fold_rate=1e6 / live_us, fold_cpu_us=live_us, fold_rss_mb=130.0, fold_batch=LIVE_BATCH,
                 rebuild_rate=1e6 / rebuild_us, rebuild_cpu_us=rebuild_us, rebuild_rss_mb=140.0, rebuild_batch=REBUILD_BATCH,
                 index_rate=1e6 / index_us, index_cpu_us=index_us, index_rss_mb=60.0, dashboard_p50_ms=3.0, dashboard_p99_ms=8.0, prefill_s=10.0, prefill_store_rate=10_000.0,
                 prefill_store_cpu_us=50.0, prefill_fold_rate=6000.0, prefill_fold_cpu_us=110.0)


def test_the_report_names_each_fold_with_its_batch_and_its_ratio(tmp_path: Path) -> None:
    first, last = level(100_000, 110.0, 88.0, 30.0), level(5_000_000, 165.0, 121.0, 60.0)
    report([first, replace(last, history=1_000_000), last], tmp_path)
    table = (tmp_path / "growth.md").read_text()
    assert f"live projector's fold, batches of {LIVE_BATCH:,}" in table and f"rebuild's fold, batches of {REBUILD_BATCH:,}" in table
    assert f"event index, batches of {LIVE_BATCH:,}" in table
    assert "| 5,000,000 | 9,000 (100 µs, 150 MB) | 6,061 (165 µs, 130 MB) | 8,264 (121 µs, 140 MB) | 16,667 (60 µs, 60 MB) |" in table
    assert "live fold 0.67 x (CPU per event 1.50 x), rebuild 0.73 x (CPU per event 1.38 x)" in table
    # The live projector folds and indexes in one process: its time per event is the sum of the two.
    assert "event index 0.50 x (CPU per event 2.00 x), the live projector's fold and index together 0.62 x (CPU per event 1.61 x)" in table
    assert [row["rebuild_cpu_us"] for row in json.loads((tmp_path / "growth.json").read_text())] == [88.0, 121.0, 121.0]
    svg = ET.parse(tmp_path / "growth.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert len(svg.findall(f"{ns}polyline")) == 5
    legend = [t for t in svg.findall(f"{ns}text") if "µs/event" in (t.text or "") or "dashboard" in (t.text or "")]
    assert [t.text for t in legend] == ["ledger CPU µs/event", "live fold CPU µs/event", "rebuild CPU µs/event", "event index CPU µs/event",
                                     "district dashboard p50 (uncached)"]
    # Each name ends inside the chart (7 px a character is more than an 11 px sans-serif takes).
    assert all(float(t.get("x")) + 7 * len(t.text) <= float(svg.get("width")) for t in legend)
    assert all(float(t.get("y")) <= float(svg.get("height")) for t in legend)  # and inside its height
