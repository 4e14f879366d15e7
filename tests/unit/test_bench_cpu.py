"""bench/cpu.py: reading a process's CPU time from /proc, per-phase accounting, and the floor it
sets on throughput (bench.run.floors, bench.md and bench.json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cpu import CLOCK_TICKS, Meter, Phase, cpu_seconds, tree_seconds
from bench.run import Figure, floors, report

BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < {seconds}: pass\n"


def test_cpu_seconds_reads_utime_and_stime_after_a_command_name_with_spaces_and_parentheses(tmp_path: Path) -> None:
    # Fields 3.. of /proc/<pid>/stat: state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime ...; the children's (cutime, cstime) are not the process's own.
    (tmp_path / "123").mkdir()
    (tmp_path / "123" / "stat").write_text("123 (a (b) c) S 1 1 1 0 -1 4194304 100 0 0 0 250 50 7 9 20 0 1 0 55 0 0\n")
    assert cpu_seconds(123, tmp_path) == pytest.approx(300 / CLOCK_TICKS)


def test_cpu_seconds_of_a_real_process_follows_its_work() -> None:
    own, process = cpu_seconds(os.getpid()), time.process_time()
    t = time.process_time()
    while time.process_time() - t < 0.2:
        pass
    grown, measured = cpu_seconds(os.getpid()) - own, time.process_time() - process
    assert grown == pytest.approx(measured, abs=3 / CLOCK_TICKS)  # ticks: 10 ms each on Linux


def test_a_phase_gives_cpu_per_event_per_process_their_sum_and_the_floor() -> None:
    phase = Phase("live", count=1000, wall_s=2.0, cpu_s={"ledger": 0.5, "projector": 1.5, "relay": 0.0}, cores=2)
    assert phase.us_per_unit == {"ledger": 500.0, "projector": 1500.0, "relay": 0.0}
    assert phase.us_per_unit_sum == 2000.0
    assert phase.floor == 1000.0  # 2 cores x 1e6 us / 2,000 us per event
    assert phase.busiest == ("projector", 1500.0)
    assert phase.one_core == ("projector", pytest.approx(1e6 / 1500))  # one GIL: one core at most
    assert phase.bound == pytest.approx(1e6 / 1500)
    assert phase.cores_busy == 1.0
    as_json = phase.as_json()
    assert as_json["us_per_unit_sum"] == sum(as_json["us_per_unit"].values())  # type: ignore[union-attr]
    assert as_json["floor_per_s"] == 1000.0 and as_json["busiest"] == "projector"


def test_nats_server_spreads_over_every_core_so_only_python_processes_get_a_one_core_bound() -> None:
    phase = Phase("live", count=1000, cpu_s={"nats-server": 0.9, "ledger": 0.1}, cores=2)
    assert phase.busiest == ("nats-server", 900.0)
    assert phase.one_core == ("ledger", 10_000.0)
    assert phase.bound == phase.floor == 2000.0  # 2 cores / 1,000 us is the lower bound here


def test_a_phase_without_events_bounds_nothing() -> None:
    phase = Phase("idle", wall_s=1.0, cpu_s={"web": 0.01}, cores=2)
    assert phase.us_per_unit == {} and phase.floor == 0.0 and phase.busiest == ("", 0.0)


def test_the_meter_counts_named_processes_this_one_and_the_helpers_it_reaps() -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        meter = Meter(lambda: {"sleeper": sleeper.pid}, cores=2)
        with meter.phase("work", own="publisher", reaped="helper") as phase:
            subprocess.run([sys.executable, "-c", BURN.format(seconds=0.3)], check=True)
            phase.count = 100
        work = meter["work"]
        assert set(work.cpu_s) == {"publisher", "sleeper", "helper"}
        assert work.cpu_s["helper"] >= 0.25  # its 0.3 s of work, counted once reaped
        assert work.cpu_s["sleeper"] < 0.05
        assert work.us_per_unit_sum == pytest.approx(sum(work.cpu_s.values()) * 1e6 / 100)
        assert work.wall_s >= 0.3
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_process_gone_during_a_phase_is_left_out_not_guessed() -> None:
    short = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    meter = Meter(lambda: {"short": short.pid})
    with meter.phase("p") as phase:
        short.kill()
        short.wait()
        phase.count = 1
    assert "short" not in meter["p"].cpu_s and "bench" in meter["p"].cpu_s


def _meter(live_us: dict[str, float], rebuild_us: float, replay_us: float) -> Meter:
    meter = Meter(cores=2)
    n = 10_000
    for name, per in (("raw chain", {"publisher": 30.0, "chain hop": 60.0, "nats-server": 30.0}), ("live", live_us),
                      ("rebuild raw read", {"raw read": 30.0}), ("rebuild", {"rebuild": rebuild_us}),
                      ("replay raw read", {"raw read": 32.0}), ("replay", {"replay": replay_us})):
        meter.phases.append(Phase(name, count=n, wall_s=5.0, cpu_s={who: us * n / 1e6 for who, us in per.items()}, cores=2))
    return meter


def test_floors_say_whether_each_target_is_reachable_at_the_cpu_spent_per_event() -> None:
    # live: 250 + 150 + 100 = 500 us per event -> at most 4,000/s on 2 cores; 0.6 x a chain of
    # 10,000/s is 6,000: out of reach. rebuild: 100 us -> 20,000/s on 2 cores, 10,000/s on the one
    # core of its process, against 0.5 x 15,000: reachable. replay: 200 us -> 10,000/s on 2 cores
    # would reach 0.5 x 12,000, but its process alone carries 5,000/s: out of reach.
    meter = _meter({"projector": 250.0, "ledger": 150.0, "nats-server": 100.0}, rebuild_us=100.0, replay_us=200.0)
    live, rebuild, replay = floors(meter, 10_000.0, "chain", 15_000.0, 12_000.0)
    assert live.value == pytest.approx(4_000.0) and live.baseline == 10_000.0 and live.met is False
    assert "busiest: projector 250 us" in live.name and "raw chain: 120 us" in live.name
    assert "CPU-bound the ratio is at most 0.24" in live.name  # 120 / 500: the same cores, this much more work
    assert rebuild.value == pytest.approx(10_000.0) and rebuild.met is True
    assert replay.value == pytest.approx(5_000.0) and replay.met is False
    assert "= 10,000/s" in replay.name and "replay on the one core its GIL allows at most 5,000/s" in replay.name


def test_the_report_carries_every_phase_in_bench_json_and_bench_md(tmp_path: Path) -> None:
    meter = _meter({"projector": 250.0, "ledger": 150.0, "nats-server": 100.0}, rebuild_us=200.0, replay_us=210.0)
    report([Figure("live", 1_000.0, "events/s")], tmp_path, 10_000, meter.phases)
    data = json.loads((tmp_path / "bench.json").read_text())
    phases = {p["phase"]: p for p in data["cpu"]["phases"]}
    assert list(phases) == ["raw chain", "live", "rebuild raw read", "rebuild", "replay raw read", "replay"]
    live = phases["live"]
    assert live["us_per_unit"] == pytest.approx({"projector": 250.0, "ledger": 150.0, "nats-server": 100.0})
    assert live["us_per_unit_sum"] == pytest.approx(500.0) and live["floor_per_s"] == pytest.approx(4_000.0)
    assert data["cpu"]["clock_ticks_per_s"] == CLOCK_TICKS
    md = (tmp_path / "bench.md").read_text()
    assert "## Where the CPU goes" in md
    assert "| live | 10,000 events | 5.0 | 1.00 of 2 | 500.0 | 4,000 | 4,000 (projector) | projector 250.0 (0.50), ledger 150.0 (0.30), nats-server 100.0 (0.20) |" in md


def test_the_position_reader_asks_again_on_a_new_connection_when_the_server_closed_the_kept_alive_one() -> None:
    import http.server
    import threading

    from bench.run import KeptAlive

    class Closing(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # says nothing of closing, then closes: as a server's idle timeout does

        def do_GET(self) -> None:
            body = json.dumps({"dashboard": 7, "auth": self.headers["Authorization"]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Closing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        reader = KeptAlive(server.server_address[1], "t0ken")
        answers = [reader.get_json("/api/position") for _ in range(3)]
        assert answers == [{"dashboard": 7, "auth": "Bearer t0ken"}] * 3
        reader.close()
    finally:
        server.shutdown()
        server.server_close()


def test_a_servers_tree_counts_its_own_its_reaped_and_its_live_childrens_time(tmp_path: Path) -> None:
    def stat(pid: int, ppid: int, utime: int, stime: int, cutime: int, cstime: int) -> None:
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(
            f"{pid} (postgres: x (y)) S {ppid} 1 1 0 -1 4194304 100 0 0 0 {utime} {stime} {cutime} {cstime} 20 0 1 0 55 0 0\n")

    stat(10, 1, 100, 20, 300, 40)  # the postmaster: its own 120 ticks, its exited backends' 340
    stat(11, 10, 50, 5, 0, 0)  # a live backend
    stat(12, 10, 7, 3, 1, 1)  # another, which reaped a helper of its own
    stat(13, 1, 999, 999, 0, 0)  # not under the server
    stat(14, 11, 500, 0, 0, 0)  # a grandchild: in its parent's cutime once reaped, not before
    (tmp_path / "self").mkdir()  # /proc's other entries are not processes
    assert tree_seconds(10, tmp_path) == pytest.approx((120 + 340 + 55 + 12) / CLOCK_TICKS)


def test_a_tree_keeps_the_work_of_a_child_that_exits_within_the_phase() -> None:
    before = tree_seconds(os.getpid())
    subprocess.run([sys.executable, "-c", BURN.format(seconds=0.3)], check=True)
    grown = tree_seconds(os.getpid()) - before
    assert grown >= 0.3 - 3 / CLOCK_TICKS  # the child's 0.3 s, now in our cutime; plus our own waiting

