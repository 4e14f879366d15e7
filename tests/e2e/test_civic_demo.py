"""`civic demo` as a user runs it: the service comes up and fills with the simulated district."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from producers.simulator import Plan, simulate
from schemas import topology
from tests.support import bearer, caught_up_in

pytestmark = pytest.mark.integration


def ledger_count(port: int, auth: dict[str, str]) -> int | None:
    try:
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers=auth), timeout=2) as r:
            health = json.load(r)
    except OSError:
        return None
    return next((st["last_sequence"] for st in health.get("streams", []) if st["name"] == topology.LEDGER), None)


def test_civic_demo_feeds_the_simulated_district(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    expected = sum(1 for _ in simulate(Plan(seed=5, tickets=40)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
    auth = bearer(tmp_path / "data")  # /healthz shows the streams to a machine token only
    with open(tmp_path / "demo.log", "wb") as log:
        demo = subprocess.Popen([sys.executable, "-m", "civic.cli", "demo", "--data", str(tmp_path / "data"), "--port", str(port),
                                 "--seed", "5", "--tickets", "40"], stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while (ledger_count(port, auth) or 0) < expected:
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()[-3000:]
            time.sleep(0.3)
        at = caught_up_in(tmp_path / "data", intake=expected, projector=True)
        assert (at.intake, at.relayed, at.projected) == (expected, expected, expected)
        assert ledger_count(port, auth) == expected
        assert "demo fed" in (tmp_path / "demo.log").read_text()
        # Without any credential, the demo's browser is the district viewer, and the page says so.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/me", timeout=5) as r:
            me = json.load(r)
        assert me["demo"] and me["role"] == "auditor" and me["org"] == "*" and not me["reads_contacts"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b'id="demo-banner"' in r.read()
    finally:
        demo.send_signal(signal.SIGINT)
        assert demo.wait(30) == 0
