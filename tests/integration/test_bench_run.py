"""`civic bench --quick` on a small district: bench.json and bench.md carry each phase's CPU per
event for every process that ran it (bench/cpu.py), and the floors beside the targets."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

EVENTS = 6000
"""The 5,000 org units and the first tickets: the smallest run with a ticket to read."""


def test_civic_bench_reports_where_each_phase_cpu_went(tmp_path: Path) -> None:
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-c", "from civic.cli import app; app()", "bench", "--quick", "--events", str(EVENTS),
                    "--out", str(out)], check=True, capture_output=True, timeout=900)
    data = json.loads((out / "bench.json").read_text())
    phases = {p["phase"]: p for p in data["cpu"]["phases"]}
    fresh = [name for name in phases if name.startswith("freshness at ")]
    assert set(phases) - set(fresh) == {"raw chain", "raw store insert", "live", "reads", "gateway",
                                        "rebuild raw read", "rebuild", "replay raw read", "replay"}
    assert len(fresh) == 2

    for phase in phases.values():
        assert phase["count"] > 0 and phase["wall_s"] > 0
        assert phase["us_per_unit_sum"] == pytest.approx(sum(phase["us_per_unit"].values()))
        assert phase["floor_per_s"] == pytest.approx(phase["cores"] * 1e6 / phase["us_per_unit_sum"])
        for who, seconds in phase["cpu_s"].items():
            assert phase["us_per_unit"][who] == pytest.approx(seconds * 1e6 / phase["count"])

    live = phases["live"]
    assert live["count"] == EVENTS and live["unit"] == "event"
    assert set(live["cpu_s"]) == {"publisher", "nats-server", "ledger", "relay", "projector", "web"}
    for who in ("publisher", "nats-server", "ledger", "relay", "projector"):  # each did work for every event
        assert live["cpu_s"][who] > 0, who
    # No process can use more than every core for the whole phase.
    assert sum(live["cpu_s"].values()) <= live["cores"] * live["wall_s"] * 1.05
    assert phases["raw chain"]["cpu_s"]["chain hop"] > 0  # reaped before the phase ends
    assert phases["reads"]["unit"] == "request" and phases["reads"]["cpu_s"]["loadgen"] > 0 and phases["reads"]["cpu_s"]["web"] > 0
    assert phases["rebuild"]["cpu_s"]["rebuild"] > 0 and phases["replay"]["cpu_s"]["replay"] > 0

    floors = {f["name"].split(" throughput")[0]: f for f in data["figures"] if f["name"].startswith("floor: ")}
    assert set(floors) == {"floor: live", "floor: rebuild", "floor: replay"}
    for name, phase in (("live", live), ("rebuild", phases["rebuild"]), ("replay", phases["replay"])):
        figure = floors[f"floor: {name}"]
        assert figure["value"] == pytest.approx(min(phase["floor_per_s"], phase["one_core_bound_per_s"])) and figure["baseline"] > 0
        share = 0.6 if name == "live" else 0.5
        assert figure["met"] == (figure["value"] >= share * figure["baseline"])
    assert "## Where the CPU goes" in (out / "bench.md").read_text()
