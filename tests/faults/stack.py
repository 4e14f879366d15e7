"""The fault suite's shared parts: a `civic up` as an operator runs it, a producer that knows
what was acked, and the one invariant every scenario ends with (`assert_recovered`).

Barriers, not sleeps: every wait is a poll of a position, a pid or a health reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import msgspec
import nats

import schemas as s
from adapters.bus import connect_options
from adapters.eventstore import open_recorder
from adapters.process import free_port
from config import Settings
from schemas.topology import EVENT_ID_HEADER, LEDGER, LEDGER_SUBJECTS
from tests.support import read_stream

CIVIC = [sys.executable, "-m", "civic.cli"]


CLOCK_NOW = Path(tempfile.gettempdir()) / f"civic-faults-clock-now-{os.getpid()}"
"""The deadline clock's "now" in these stacks: before every event the scenarios publish, so the clock
runs (and is killed and restarted) but records nothing: these scenarios count exactly what they sent.
The clock's own recovery is tests/integration/test_clock_role.py's."""
CLOCK_NOW.write_text("2020-01-01T00:00:00+00:00")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
    return {**env, "CIVIC_CHECKPOINT_MINUTES": "0", "CIVIC_CLOCK_NOW_FILE": str(CLOCK_NOW), **extra}


def civic(*args: str, data: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CIVIC, *args, "--data", str(data)], capture_output=True, text=True, timeout=timeout,
                          env=env or clean_env(), stdin=subprocess.DEVNULL)


def wait_until(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    """A barrier: poll a condition until it holds; fail naming it and its last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def reader_token(data: Path, env: dict[str, str]) -> str:
    """A bearer token of an auditor (reads every unit), made with `civic users` in the folder."""
    data.mkdir(parents=True, exist_ok=True)
    added = civic("users", "add", "fault-auditor", "--role", "auditor", data=data,
                  env={**env, "CIVIC_USER_PASSWORD": "fault suite reader password"})
    assert added.returncode in (0, 2), added.stdout + added.stderr  # 2: it exists (a second `civic up` on the folder)
    made = civic("users", "token", "fault-auditor", data=data, env=env)
    assert made.returncode == 0, made.stdout + made.stderr
    return made.stdout.strip().splitlines()[-1]


class Stack:
    """`civic up --data DIR` on free ports, its log in `log`."""

    def __init__(self, data: Path, log: Path, **env: str):
        self.data, self.port, self.env = data, free_port(), clean_env(**env)
        self.settings = Settings(data_dir=data.absolute(), database_url=env.get("CIVIC_DATABASE_URL"))
        self.log_path = log
        self.token = reader_token(data, self.env)
        self.log = open(log, "ab")
        self.process = subprocess.Popen([*CIVIC, "up", "--data", str(data), "--port", str(self.port)],
                                        stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)

    # -- what an operator sees --------------------------------------------------------------
    def _request(self, path: str) -> urllib.request.Request:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        request.add_header("Authorization", f"Bearer {self.token}")  # an auditor: /healthz in full
        return request

    def health(self) -> dict | None:
        try:
            with urllib.request.urlopen(self._request("/healthz"), timeout=10) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            return json.load(e)
        except (OSError, ValueError):
            return None

    def says(self, reason: str, timeout: float = 60) -> dict:
        """The barrier "health names this reason" (and is not ok)."""
        return wait_until(lambda: (h := self.health()) and reason in h["reasons"] and h["status"] != "ok" and h,
                          timeout, f"/healthz to report {reason!r}")

    def ok(self, timeout: float = 90) -> dict:
        return wait_until(lambda: (h := self.health()) and h["status"] == "ok" and h, timeout, "/healthz ok")

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self._request(path), timeout=10) as r:
            return r.read()

    def supervisor(self) -> dict:
        try:
            return json.loads(self.settings.supervisor_status_path.read_text())["processes"]
        except (OSError, ValueError, KeyError):
            return {}

    def pid(self, name: str) -> int | None:
        return self.supervisor().get(name, {}).get("pid")

    def pids(self) -> list[int]:
        return [p["pid"] for p in self.supervisor().values() if p.get("pid")]

    @property
    def url(self) -> str:
        return wait_until(lambda: self.settings.nats_url_file.exists() and self.settings.nats_url_file.read_text().strip(),
                          30, "DIR/nats.url")

    def ready(self) -> Stack:
        self.ok(60)
        return self

    def kill(self, name: str) -> None:
        """SIGKILL a supervised process and wait until the supervisor has another one running."""
        old = wait_until(lambda: self.pid(name), 30, f"{name} running")
        os.kill(old, signal.SIGKILL)
        wait_until(lambda: (p := self.pid(name)) and p != old and alive(p), 60, f"{name} restarted after SIGKILL")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# -- the producer -------------------------------------------------------------------------------
def _as(stack: Stack, identity: str) -> dict:
    """nats.connect options for one of the folder's identities (its key in DIR/credentials)."""
    return connect_options(replace(stack.settings, nats_url=stack.url), identity)


async def _publish(stack: Stack, events: list, stop_on_failure: bool) -> list[str]:
    nc = await nats.connect(**_as(stack, "emit"), connect_timeout=5, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    js = nc.jetstream()
    acked = []
    try:
        for event, subject in events:
            for attempt in range(3 if stop_on_failure else 30):
                try:
                    await js.publish(subject, s.encode(event), headers={"Nats-Msg-Id": event.event_id}, timeout=2)
                    acked.append(event.event_id)
                    break
                except Exception:
                    if stop_on_failure and attempt == 2:
                        return acked
                    await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"intake never acked {event.event_id}")
    finally:
        await nc.close()
    return acked


def feed(stack: Stack, events: list) -> list[str]:
    """Publish with acks (retrying, as a producer does); the ids acked, in order."""
    return asyncio.run(_publish(stack, events, stop_on_failure=False))


def feed_while_failing(stack: Stack, events: list) -> list[str]:
    """Publish while a fault lasts: stop at the first event intake does not ack."""
    return asyncio.run(_publish(stack, events, stop_on_failure=True))


# -- the invariant ------------------------------------------------------------------------------
async def _ledger_ids(stack: Stack) -> list[str]:
    nc = await nats.connect(**_as(stack, "auditor"))
    try:
        return [m.headers[EVENT_ID_HEADER] for m in await read_stream(nc.jetstream(), LEDGER, LEDGER_SUBJECTS)]
    finally:
        await nc.close()


def store_ids(settings: Settings) -> list[str]:
    recorder = open_recorder(settings)
    ids, start = [], 1
    while True:
        notes = recorder.select_notifications(start=start, limit=1000)
        if not notes:
            return ids
        ids += [msgspec.json.decode(n.state)["event_id"] for n in notes]
        start = notes[-1].id + 1


PAGES = ("/api/orgs", "/api/orgs/yn/dashboard?from=2026-01-01", "/api/orgs/yn/tickets?page_size=500&status=all")


def _dashboards(stack: Stack) -> list[bytes]:
    """The dashboards' answers. Known limit: right after PostgreSQL comes back, a web worker
    thread may answer 500 once before it reopens its connection, so each page is awaited (10 s)."""
    def answer(path: str) -> bytes | None:
        try:
            return stack.get(path)
        except urllib.error.HTTPError:
            return None
    return [wait_until(lambda: answer(path), 10, f"{path} to answer 200") for path in PAGES]


def assert_recovered(stack: Stack, acked: list[str]) -> None:
    """The end of every scenario: health back to ok by itself; every acked event in the store
    and in CIVIC_LEDGER exactly once, in the order acked; verify ok; the dashboards equal a
    fresh rebuild."""
    n = len(acked)
    stack.ok(120)
    wait_until(lambda: (h := stack.health()) and h["streams"][1]["last_sequence"] >= n and h.get("dashboard_lag") == 0
               and h["status"] == "ok", 120, f"CIVIC_LEDGER at {n} and the dashboards caught up")
    in_stream = asyncio.run(_ledger_ids(stack))
    assert in_stream == acked, f"CIVIC_LEDGER differs from what was acked: {len(in_stream)} vs {n}"
    assert store_ids(stack.settings) == acked, "the event store differs from what was acked"
    verified = civic("audit", "verify", data=stack.data, env=stack.env)
    assert verified.returncode == 0 and f"ledger ok: {n} events" in verified.stdout, verified.stdout + verified.stderr
    live = _dashboards(stack)
    rebuilt = civic("projections", "rebuild", data=stack.data, env=stack.env)
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert _dashboards(stack) == live, "the live dashboards differ from a fresh rebuild"
    assert stack.ok(30)["reasons"] == []
