"""The real service for the browser tests: `civic up` on a free port in a fresh data folder (its
own nats-server, ledger, relay, projector and web roles, each a process), fed the scripted
district of tests/scenario.py through intake. Also usable by hand to look at the pages:

    .venv/bin/python -m tests.browser.stack     # prints the URL; Ctrl-C stops it
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import nats

import schemas as s
from schemas.base import Event
from schemas.clock import CLOCK_EVENTS
from schemas.topology import parse_intake_subject
from tests.support import bearer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _capture(failure: list[BaseException], work) -> None:  # type: ignore[no-untyped-def]
    try:
        work()
    except BaseException as e:  # handed to the calling thread
        failure.append(e)


def _in_thread(work: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine in a thread of its own: Playwright's sync API keeps an event loop running in this one."""
    failure: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(failure, lambda: asyncio.run(work())))
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


class Stack:
    def __init__(self, data: Path, log: Path):
        self.data, self.port = data, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
        # The pages and the API answer signed-in readers: an auditor (every unit) reads them here.
        self.auth = bearer(data, "browser-auditor")
        self.account = ("browser-auditor", "a test password")
        bearer(data, "browser-v1", "staff", "v1")  # a village secretary, who may call a reporter back
        self.staff = ("browser-v1", "a test password")
        self.process = subprocess.Popen([sys.executable, "-m", "civic.cli", "up", "--data", str(data), "--port", str(self.port)],
                                        stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        self.published = 0
        self.sent: set[str] = set()

    def get(self, path: str, **params: Any) -> Any:
        """The API's JSON answer, as the page would get it."""
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v not in (None, "")})
        request = urllib.request.Request(f"{self.base}{path}{'?' + query if query else ''}", headers=self.auth)
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.load(r)

    def sign_in(self, context: Any, account: tuple[str, str] | None = None) -> None:
        """Sign a browser context in through POST /login: it keeps the session cookie."""
        name, password = account or self.account
        answer = context.request.post(f"{self.base}/login", data={"name": name, "password": password})
        assert answer.status == 200, answer.text()

    def health(self) -> dict | None:
        try:
            return self.get("/healthz")
        except urllib.error.HTTPError as e:
            return json.load(e)
        except OSError:
            return None

    def ready(self) -> Stack:
        wait_until(lambda: (h := self.health()) and h["status"] == "ok", 60, "civic up to answer /healthz ok")
        return self

    def publish(self, events: list[tuple[Event, str]]) -> None:
        """Acked publishes to intake, as a producer does; returns once JetStream has them."""
        from adapters.bus import connect
        from config import Settings

        settings = Settings(data_dir=self.data)  # the URL civic up wrote, and its local producers' key

        async def send() -> None:
            nc = await connect(settings, "emit")
            js = nc.jetstream()
            for event, subject in events:
                await js.publish(subject, s.encode(event), headers={"Nats-Msg-Id": event.event_id})
            await nc.close()

        _in_thread(send)
        self.published += len(events)
        self.sent.update(event.event_id for event, _ in events)

    def refusals(self) -> list[tuple[str, str, str]]:
        """(event id, reason, intake subject) of every refusal in CIVIC_REJECTED, from its headers."""
        from adapters.bus import connect
        from config import Settings
        from schemas import topology

        found: list[tuple[str, str, str]] = []

        async def read() -> None:
            nc = await connect(Settings(data_dir=self.data), "emit")
            js = nc.jetstream()
            state = (await js.stream_info(topology.REJECTED)).state
            for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
                headers = (await js.get_msg(topology.REJECTED, seq)).headers or {}
                found.append((headers.get(topology.EVENT_ID_HEADER, ""), headers.get(topology.REASON_HEADER, ""),
                              headers.get(topology.INTAKE_SUBJECT_HEADER, "")))
            await nc.close()

        _in_thread(read)
        return found

    def applied(self, timeout: float = 60) -> dict:
        """Wait until the ledger holds every published event and the read model has applied them."""
        def caught_up() -> dict | None:
            h = self.health()
            return h if h and h.get("dashboard_lag") == 0 and h["streams"][1]["last_sequence"] >= self.published else None
        health = wait_until(caught_up, timeout, f"{self.published} events in the ledger and the read model")
        if health["streams"][2]["last_sequence"]:
            refused = self.refusals()
            assert not [r for r in refused if r[0] in self.sent], f"none of the published events refused: {refused}"
            # The one refusal the service makes of itself: the clock's step sent at a unit's old path
            # while the ledger stored the unit's move (subject_mismatch), and a follow-up behind it
            # (not_escalated). The clock sends them again at the new path (consumers/clock_state.py `due`).
            clock_types = {cls.__name__ for cls in CLOCK_EVENTS}
            assert all(parse_intake_subject(subject)[0] in clock_types and reason in ("subject_mismatch", "not_escalated")
                       for _, reason, subject in refused), f"nothing refused but the clock's race with a move: {refused}"
        return health

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()
        finally:
            self.log.close()



@contextlib.contextmanager
def serving(folder: Path, events: Any) -> Iterator[Stack]:
    """`civic up` in `folder` with `events` published and applied; stopped after, and it must stop
    cleanly (the log's tail says why not)."""
    service = Stack(folder / "data", folder / "up.log").ready()
    try:
        service.publish(events)
        service.applied()
        yield service
    finally:
        code = service.stop()
        assert code == 0, (folder / "up.log").read_text()[-3000:]

if __name__ == "__main__":
    from tests.scenario import scenario

    folder = Path(tempfile.mkdtemp(prefix="civic-pages-"))
    stack = Stack(folder / "data", folder / "up.log").ready()
    stack.publish(scenario())
    stack.applied()
    print(f"{stack.base}/?from=2026-03-01&to=2026-03-31   (data in {folder}; Ctrl-C stops)", flush=True)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # kill PID stops `civic up` too
    try:
        stack.process.wait()
    except KeyboardInterrupt:
        stack.stop()
