"""`civic demo`: the supervisor of `civic up` runs the service in the main thread (it owns the
signals); this thread waits until /healthz says ok, then feeds it a simulated year ending now,
shaped to the seed article's figures, writes the article's claims as reports for `civic audit
diff` once the ledger has stored that year, and then keeps a live trickle going until the demo
stops.

The year is the data folder's: the first run records its end (and seed and size) in
DIR/demo.json, and a later run on the same folder tells the very same year again (every event a
duplicate, nothing stored twice) and keeps the reports of the first, so they stay true.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from config import Settings
from producers.simulator import Plan

log = logging.getLogger("civic.demo")
STATE = "demo.json"
REPORTS = "reports"


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return json.load(r).get("status") == "ok"
    except (OSError, ValueError, urllib.error.URLError):
        return False


def projected(port: int) -> int:
    """The read model's ledger position (the demo's browser is the district viewer: no token)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/position", timeout=2) as r:
            return int(json.load(r).get("dashboard") or 0)
    except (OSError, ValueError, urllib.error.URLError):
        return 0


@dataclass
class Demo:
    settings: Settings
    seed: int
    tickets: int
    rate: float | None = None
    end: datetime | None = None
    live: bool = True
    ready_timeout: float = 120.0
    halted: Callable[[], bool] = lambda: False
    """Says when the service has begun to stop (the supervisor's signal handler), so the trickle
    stops before NATS does."""
    stop: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def stopped(self) -> bool:
        return self.stop.is_set() or self.halted()

    def start(self) -> Demo:
        self.thread = threading.Thread(target=self._run, name="civic-demo", daemon=True)
        self.thread.start()
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Stop the trickle (the service is stopping) and wait for it."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout)

    def _run(self) -> None:
        try:
            self._feed()
        except Exception:
            if not self.stopped():
                log.exception("the demo's feed failed")

    def _feed(self) -> None:
        from producers.feed import feed_url
        from producers.simulator import simulate

        port = self.settings.port
        deadline = time.monotonic() + self.ready_timeout
        while not healthy(port):
            if time.monotonic() > deadline or self.stopped():
                log.error("the service was not healthy after %.0fs; nothing fed", self.ready_timeout)
                return
            time.sleep(0.5)
        try:
            plan = Plan(seed=self.seed, tickets=self.tickets, end=self._year_end(), article=True)
            history = list(simulate(plan))
        except ValueError as e:
            log.error("no simulated year: %s", e)
            return
        tree = next(i for i, e in enumerate(history) if e.type not in ("OrgUnitRegistered", "GridWorkerAssigned"))
        url, options = self.settings.resolved_nats_url(), self._options()
        log.info("feeding the simulated district (seed %d, %d tickets, %s to %s) to %s", self.seed, self.tickets,
                 f"{plan.start:%Y-%m-%d}", f"{plan.end:%Y-%m-%d %H:%M}", url)
        # The org tree first: the URL is printed once the pages can show the district (before, they
        # would say "no such unit"), and the year follows while the reader looks.
        asyncio.run(feed_url(url, history[:tree], rate=self.rate, progress=False, **options))
        if not self._projected(tree, "the org tree"):
            return
        log.info("dashboards at http://127.0.0.1:%d/ (filling with the simulated year)", port)
        fed = asyncio.run(feed_url(url, history[tree:], rate=self.rate, progress=False, **options))
        log.info("demo fed: the org tree and %s", fed.summary())
        # The reports say what the ledger held the moment the history was stored: wait for the ledger
        # to have decided every event of the year (its stored intake position), then for the read
        # model to reach the ledger's head as of then, and take that instant. Not a count of ledger
        # positions: the deadline clock records events of its own in between, and refusals take none.
        head = asyncio.run(self._ledger_head_after(fed.last_sequence))
        if head is not None and self._projected(head, "the year"):
            self._reports(plan)
        if self.live and not self.stopped():
            self._trickle()

    async def _ledger_head_after(self, intake_sequence: int, timeout: float = 600.0) -> int | None:
        """The ledger's head once its stored intake position reaches `intake_sequence` (None:
        stopped, or the ledger did not get there in `timeout` seconds of no progress)."""
        from adapters.bus import connect
        from adapters.status import read_status
        from schemas.topology import LEDGER_STATUS_KEY

        nc = await connect(self.settings, "emit")
        try:
            js, seen, waited = nc.jetstream(), -1, time.monotonic() + timeout
            while not self.stopped():
                status = await read_status(js, LEDGER_STATUS_KEY)
                if status is not None and status.position >= intake_sequence and status.store_head is not None:
                    return status.store_head
                position = status.position if status else 0
                if position > seen:
                    seen, waited = position, time.monotonic() + timeout
                elif time.monotonic() > waited:
                    log.error("the ledger stopped at intake position %d before the year's last event (%d)",
                              position, intake_sequence)
                    return None
                await asyncio.sleep(0.2)
            return None
        finally:
            await nc.close()

    def _projected(self, events: int, what: str, timeout: float = 600.0) -> bool:
        """Wait until the read model has applied `events` ledger positions (False: stopped or stuck)."""
        waited = time.monotonic() + timeout
        while projected(self.settings.port) < events:
            if self.stopped():
                return False
            if time.monotonic() > waited:
                log.error("the read model did not reach %s's %d events in %.0fs (see the ledger's rejections)",
                          what, events, timeout)
                return False
            time.sleep(0.2)
        return True

    def _reports(self, plan: Plan) -> None:
        from producers.article import Targets, write_reports

        folder = self.settings.data_dir / REPORTS
        if not (folder / "article-yongning.yaml").exists():
            paths = write_reports(folder, Targets.scaled(self.tickets), plan.start, plan.end, datetime.now(timezone.utc))
            time.sleep(0.01)  # the trickle's first event is stored strictly after published_at
            for path in paths:
                log.info("the article's figures, as the ledger held them now: civic audit diff %s", path)

    def _trickle(self) -> None:
        from producers.sdk import Producer
        from producers.trickle import Trickle, run

        async def go() -> int:
            trickle = Trickle(self.seed, datetime.now(timezone.utc))
            producer = await Producer.connect(self.settings.resolved_nats_url(), **self._options())
            try:
                return await run(producer, trickle, self.stopped)
            finally:
                await producer.close()

        log.info("live: a new item every few seconds until the demo stops")
        published = asyncio.run(go())
        log.info("live trickle stopped after %d events", published)

    def _options(self) -> dict:
        return {"credentials": self.settings.credentials_for("emit"), "tls_ca": self.settings.nats_tls_ca}

    def _year_end(self) -> datetime:
        """The end this data folder's year was given (DIR/demo.json), else the one asked, else now."""
        state_path: Path = self.settings.data_dir / STATE
        if state_path.exists():
            state = json.loads(state_path.read_text())
            if (state.get("seed"), state.get("tickets")) == (self.seed, self.tickets):
                return datetime.fromisoformat(state["end"])
            log.warning("%s was a year of seed %s, %s tickets: this run tells another (its reports are not rewritten)",
                        state_path, state.get("seed"), state.get("tickets"))
        end = self.end or datetime.now(timezone.utc)
        from producers.district import CST

        end = end.astimezone(CST).replace(second=0, microsecond=0)
        state_path.write_text(json.dumps({"seed": self.seed, "tickets": self.tickets, "end": end.isoformat()}) + "\n")
        return end
