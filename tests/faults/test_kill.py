"""SIGKILL of every process of `civic up`, the supervisor included: nothing lost or doubled, no
orphan, no second stack beside survivors, no port fight."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

from tests.faults.stack import CIVIC, alive, assert_recovered, clean_env, feed, wait_until


def test_sigkill_of_each_process_heals_without_a_human(stack, events):
    up = stack().ready()
    third = len(events) // 3
    acked = feed(up, events[:third])
    for name in ("ledger", "relay", "projector", "eraser", "clock", "web", "nats-server"):
        up.kill(name)
    up.ok(60)
    acked += feed(up, events[third:2 * third])
    restarts = up.supervisor()
    assert all(restarts[name]["restarts"] >= 1 for name in ("ledger", "relay", "projector", "eraser", "clock", "web", "nats-server")), restarts
    metrics = up.get("/metrics").decode()
    assert 'civic_restarts_total{process="nats-server"} 1' in metrics
    acked += feed(up, events[2 * third:])
    assert_recovered(up, acked)


def test_sigkill_of_the_supervisor_leaves_no_orphan_and_the_next_up_resumes(stack, events, tmp_path):
    up = stack().ready()
    half = len(events) // 2
    acked = feed(up, events[:half])
    children = up.pids()
    assert len(children) == 7, up.supervisor()  # six roles and nats-server
    os.kill(up.process.pid, signal.SIGKILL)
    up.process.wait()
    wait_until(lambda: not any(alive(p) for p in children), 30, "every child of the killed supervisor to exit")

    again = stack(up.data).ready()
    acked += feed(again, events[half:])
    assert_recovered(again, acked)


def test_a_new_up_refuses_to_run_beside_a_survivor(stack, tmp_path):
    data = tmp_path / "civic-data"
    data.mkdir()
    # A survivor: any process still holding the folder's lock (as each child of `civic up` does).
    survivor = subprocess.Popen([sys.executable, "-c", "import fcntl,sys,time; f=open(sys.argv[1],'a+'); "
                                 "fcntl.flock(f, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(600)",
                                 str(data / "civic.lock")], stdout=subprocess.PIPE, text=True)
    try:
        assert survivor.stdout.readline().strip() == "locked"
        refused = subprocess.run([*CIVIC, "up", "--data", str(data), "--port", "0"], capture_output=True, text=True,
                                 timeout=60, env=clean_env())
        assert refused.returncode != 0
        assert "in use" in refused.stderr and str(survivor.pid) in refused.stderr, refused.stderr
        assert not (data / "nats").exists(), "nothing was started beside the survivor"
    finally:
        survivor.kill()
        survivor.wait()


def test_up_fails_at_once_when_its_http_port_is_taken(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([*CIVIC, "up", "--data", str(tmp_path / "d"), "--port", str(port)], capture_output=True,
                                text=True, timeout=30, env=clean_env())
    assert result.returncode != 0
    assert f"HTTP port 127.0.0.1:{port} is taken" in result.stderr, result.stderr
    assert not (tmp_path / "d" / "nats").exists()
