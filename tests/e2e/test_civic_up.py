"""The service the way a user runs it: `civic up`, `civic emit`, `civic ledger`, `civic audit verify`."""

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

import schemas as s
from tests.support import small_district, bearer

pytestmark = pytest.mark.integration
CIVIC = [sys.executable, "-m", "civic.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def civic(*args: str, data: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
    return subprocess.run([*CIVIC, *args, "--data", str(data)], capture_output=True, text=True, timeout=timeout, env=env)


def healthz(port: int, auth: dict[str, str] | None = None) -> dict | None:
    """/healthz; with an auditor's token (auth), the streams and lags too."""
    try:
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers=auth or {}), timeout=2) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)
    except OSError:
        return None


def wait_until(check, timeout: float = 30.0, what: str = ""):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


def children(pid: int) -> dict[int, str]:
    """Child processes of pid -> their command line."""
    out = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, ValueError, IndexError):
                continue
    return out


class Up:
    def __init__(self, data: Path, port: int, log: Path):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
        self.log = open(log, "ab")
        self.auth = bearer(data)  # an auditor's token: the web answers signed-in readers
        self.process = subprocess.Popen([*CIVIC, "up", "--data", str(data), "--port", str(port)],
                                        stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.port = port

    def ready(self) -> dict:
        return wait_until(lambda: (h := healthz(self.port, self.auth)) and h["status"] == "ok" and h, 30, "healthz ok")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(30)
        self.log.close()
        return code


def write_events(path: Path, events) -> Path:  # type: ignore[no-untyped-def]
    path.write_bytes(b"\n".join(s.encode(e) for e, _ in events) + b"\n")
    return path


def test_civic_up_runs_the_service_and_resumes_with_history(tmp_path: Path):
    data, port = tmp_path / "civic-data", free_port()
    up = Up(data, port, tmp_path / "up.log")
    try:
        assert up.ready()["nats_connected"]
        assert (data / "nats.url").read_text().startswith("nats://127.0.0.1:")

        second = civic("up", "--port", str(free_port()), data=data, timeout=30)
        assert second.returncode != 0 and "in use" in (second.stdout + second.stderr)

        script = small_district(tickets=3)
        emitted = civic("emit", str(write_events(tmp_path / "a.jsonl", script.events)), data=data)
        assert emitted.returncode == 0, emitted.stdout + emitted.stderr
        # The ledger's verdict on each, against the real `civic up` (its status bucket, its event index).
        assert emitted.stdout.splitlines() == [f"accepted {e.event_id} at position {i}" for i, (e, _) in enumerate(script.events, 1)] \
            + [f"{len(script.events)} accepted, 0 refused"]

        n = len(script.events)
        wait_until(lambda: healthz(port, up.auth)["streams"][1]["last_sequence"] == n, 30, "ledger filled")
        shown = civic("ledger", "show", "--from", "1", "--limit", "1000", data=data)
        assert shown.returncode == 0 and len(shown.stdout.splitlines()) == n
        assert "Resident Name" not in shown.stdout and "13800000000" not in shown.stdout
        verified = civic("audit", "verify", data=data)
        assert verified.returncode == 0 and f"ledger ok: {n} events" in verified.stdout, verified.stdout + verified.stderr
        wait_until(lambda: healthz(port, up.auth).get("dashboard_lag") == 0, 30, "read model caught up")
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/api/orgs/yn/dashboard?from=2026-01-01",
                                                           headers=up.auth)) as r:
            board = json.load(r)
        assert board["tickets"]["raised"] == 3 and board["tickets"]["closed"] == 3  # T0..T2 are all in the district

        # A role that dies is restarted by the supervisor.
        ledger_pid = next(pid for pid, cmd in children(up.process.pid).items() if "civic.roles ledger" in cmd)
        os.kill(ledger_pid, signal.SIGKILL)
        wait_until(lambda: any("civic.roles ledger" in c and p != ledger_pid for p, c in children(up.process.pid).items()),
                   20, "ledger restarted")
    finally:
        code = up.stop()
    assert code == 0
    assert not (data / "nats.url").exists()
    assert not children(up.process.pid)

    # A second `civic up` on the same folder resumes with all history.
    up = Up(data, port, tmp_path / "up2.log")
    try:
        up.ready()
        more = small_district(tickets=0, prefix="more")
        extra = [(s.TicketRaised(event_id="later-1", occurred_at=more.clock, source="test", actor=s.Actor(role="resident", id="r5"),
                                 org_id="lx", ticket_id="LATER", category="roads", title="street lamp"), "")]
        assert civic("emit", str(write_events(tmp_path / "b.jsonl", extra)), data=data).returncode == 0
        wait_until(lambda: healthz(port, up.auth)["streams"][1]["last_sequence"] == n + 1, 30, "new event in ledger")
        verified = civic("audit", "verify", data=data)
        assert f"ledger ok: {n + 1} events" in verified.stdout, verified.stdout + verified.stderr
        tail = civic("ledger", "tail", "-n", "1", data=data)
        assert "LATER" in tail.stdout
    finally:
        assert up.stop() == 0


def test_emit_refuses_invalid_events_locally_with_reasons(tmp_path: Path):
    data, port = tmp_path / "civic-data", free_port()
    up = Up(data, port, tmp_path / "up.log")
    try:
        up.ready()
        bad = tmp_path / "bad.jsonl"
        bad.write_text('{"type": "Nope"}\n{"type": "TicketRaised"\n')
        result = civic("emit", str(bad), data=data)
        assert result.returncode == 1
        assert "unknown_type" in result.stdout and "malformed_json" in result.stdout
        assert healthz(port, up.auth)["streams"][0]["last_sequence"] == 0, "nothing invalid was published"
    finally:
        up.stop()
