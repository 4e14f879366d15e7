"""`civic demo`: the supervisor of `civic up` runs the service in the main thread (it owns the
signals); this thread waits until /healthz says ok, then feeds it the simulated district."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
import urllib.error
import urllib.request

from config import Settings

log = logging.getLogger("civic.demo")


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return json.load(r).get("status") == "ok"
    except (OSError, ValueError, urllib.error.URLError):
        return False


def start_feeding(settings: Settings, *, seed: int, tickets: int, rate: float | None = None,
                  ready_timeout: float = 120.0) -> threading.Thread:
    thread = threading.Thread(target=_feed, args=(settings, seed, tickets, rate, ready_timeout), name="civic-demo", daemon=True)
    thread.start()
    return thread


def _feed(settings: Settings, seed: int, tickets: int, rate: float | None, ready_timeout: float) -> None:
    from producers.feed import feed_url
    from producers.simulator import Plan, simulate

    deadline = time.monotonic() + ready_timeout
    while not healthy(settings.port):
        if time.monotonic() > deadline:
            log.error("the service was not healthy after %.0fs; nothing fed", ready_timeout)
            return
        time.sleep(0.5)
    try:
        url = settings.resolved_nats_url()
        log.info("feeding the simulated district (seed %d, %d tickets) to %s", seed, tickets, url)
        fed = asyncio.run(feed_url(url, simulate(Plan(seed=seed, tickets=tickets)), rate=rate, progress=False,
                                   credentials=settings.credentials_for("emit"), tls_ca=settings.nats_tls_ca))
        log.info("demo fed: %s; dashboards at http://127.0.0.1:%d/", fed.summary(), settings.port)
    except Exception:
        log.exception("feeding the simulated district failed")
