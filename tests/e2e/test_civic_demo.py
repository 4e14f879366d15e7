"""`civic demo` as a user runs it: the service comes up, fills with a simulated year ending now
that shows the seed article's figures (its reports pass `civic audit diff`), the default view has
figures within a minute of the URL, and a live trickle keeps it moving until the demo stops."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from producers.district import CST
from producers.simulator import Plan, simulate
from schemas import topology
from schemas.clock import CLOCK_EVENTS, CLOCK_SOURCE
from tests.support import caught_up_in, event_id_of, read_stream

pytestmark = pytest.mark.integration
ENV = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ledger_messages(data: Path) -> list:
    """Every CIVIC_LEDGER message of the demo's folder, in order (its admin key reads every stream)."""
    async def read() -> list:
        from adapters.bus import connect
        from config import Settings

        nc = await connect(Settings(data_dir=data), "admin")
        try:
            return await read_stream(nc.jetstream(), topology.LEDGER, topology.LEDGER_SUBJECTS)
        finally:
            await nc.close()
    return asyncio.run(read())


def get(port: int, path: str) -> dict:
    """As the demo's browser: no credential (the demo signs it in as the district viewer)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return json.load(r)


def start_demo(data: Path, port: int, log: Path, *args: str) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "civic.cli", "demo", "--data", str(data), "--port", str(port), *args],
                                stdout=out, stderr=subprocess.STDOUT, env=ENV)


def wait_for(demo: subprocess.Popen[bytes], log: Path, pattern: str, seconds: float) -> re.Match[str]:
    deadline = time.monotonic() + seconds
    while not (found := re.search(pattern, log.read_text(errors="replace"))):
        assert demo.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {pattern!r} after {seconds}s:\n" + log.read_text()[-3000:]
        time.sleep(0.2)
    return found


def stop(demo: subprocess.Popen[bytes], log: Path) -> None:
    demo.send_signal(signal.SIGINT)
    assert demo.wait(30) == 0, log.read_text()[-3000:]


def test_civic_demo_feeds_the_simulated_district(tmp_path: Path) -> None:
    port, data, log = free_port(), tmp_path / "data", tmp_path / "demo.log"
    end = datetime(2026, 6, 30, 18, 0, tzinfo=CST)
    simulated = sorted(e.event_id for e in simulate(Plan(seed=5, tickets=40, end=end, article=True)))
    expected = len(simulated)
    demo = start_demo(data, port, log, "--seed", "5", "--tickets", "40", "--end", "2026-06-30", "--no-live")
    try:
        wait_for(demo, log, "demo fed", 60)  # every simulated event acked by intake; the ledger may still be deciding
        at = caught_up_in(data, intake=expected, projector=True)
        assert at.intake == at.relayed == at.projected >= expected
        # The simulated events, each once, and nothing else but the deadline clock's records: the
        # history's late steps, dated before their tickets were finished, which the clock sends
        # as it reads the history (consumers/clock_state.py: a finished ticket's owed steps).
        ledger = ledger_messages(data)
        clock_types = {cls.__name__ for cls in CLOCK_EVENTS}
        theirs = [m for m in ledger if m.subject.split(".")[2] not in clock_types]
        assert sorted(event_id_of(m.data) for m in theirs) == simulated, "without the trickle nothing more is published"
        for m in ledger:
            if m.subject.split(".")[2] in clock_types:
                assert msgspec.json.decode(m.data)["source"] == CLOCK_SOURCE, m.data
        assert json.loads((data / "demo.json").read_text())["end"] == end.isoformat()
        # Without any credential, the demo's browser is the district viewer, and the page says so.
        me = get(port, "/api/me")
        assert me["demo"] and me["role"] == "auditor" and me["org"] == "*" and not me["reads_contacts"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert r.status == 200 and b'id="demo-banner"' in r.read()
    finally:
        stop(demo, log)


def windows(now: datetime) -> Iterator[tuple[str, str]]:
    """The page's default view and its other preset (dashboards/static/api.js): this year, this month."""
    today = now.astimezone(CST).date()
    yield "year", f"from={today.replace(month=1, day=1)}&to={today}"
    yield "month", f"from={today.replace(day=1)}&to={today}"


def moving(port: int, now: datetime) -> int:
    """Everything raised or registered this month, in both roots: a new story adds one."""
    query = dict(windows(now))["month"]
    total = 0
    for org in ("yn", "hz"):
        board = get(port, f"/api/orgs/{org}/dashboard?{query}")
        total += board["tickets"]["raised"] + board["disputes"]["registered"]
    return total


def test_the_demo_shows_the_article_then_stays_alive(tmp_path: Path) -> None:
    """At the real scale (the demo's own: 2,647 items, seed 1, a year ending now)."""
    port, data, log = free_port(), tmp_path / "data", tmp_path / "demo.log"
    demo = start_demo(data, port, log)
    try:
        wait_for(demo, log, rf"dashboards at http://127\.0\.0\.1:{port}/", 90)
        shown = time.monotonic()
        # The default view (this year) and this month have figures within a minute of the URL.
        while True:
            now = datetime.now(CST)
            try:
                boards = {name: get(port, f"/api/orgs/yn/dashboard?{q}")["tickets"] for name, q in windows(now)}
            except urllib.error.HTTPError as e:  # 404 until the read model has the org tree
                assert e.code == 404, e
                boards = {}
            if boards and all(b["raised"] > 0 and b["dispatched"] > 0 for b in boards.values()):
                break
            assert time.monotonic() - shown < 60, (boards, log.read_text()[-2000:])
            time.sleep(0.5)
        # The article's figures, as the ledger held them before the trickle: every one supported.
        wait_for(demo, log, r"civic audit diff \S+article-hightech\.yaml", 120)
        diffs = [subprocess.Popen([sys.executable, "-m", "civic.cli", "audit", "diff", str(data / "reports" / f"{report}.yaml"),
                                   "--data", str(data)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env={**ENV, "COLUMNS": "160"}) for report in ("article-yongning", "article-longxiang", "article-hightech")]
        for diff in diffs:  # side by side: each replays the ledger as it stood at published_at
            out, err = diff.communicate(timeout=120)
            assert diff.returncode == 0 and re.search(r"\b0 of \d figures refuted", out), out + err
        assert "2647" in (data / "reports" / "article-yongning.yaml").read_text()
        # The page moves while watched: new items arrive through intake, at the current time.
        before, deadline = moving(port, datetime.now(CST)), time.monotonic() + 60
        while moving(port, datetime.now(CST)) <= before:
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(1)
        assert datetime.fromisoformat(json.loads((data / "demo.json").read_text())["end"]) > datetime.now(CST) - timedelta(minutes=10)
    finally:
        stop(demo, log)
    text = log.read_text()
    assert re.search(r"live trickle stopped after \d+ events", text) and "Traceback" not in text, text[-3000:]
