"""One process per role: `python -m civic.roles ROLE --data DIR`. The supervisor (civic up)
starts these; at scale each runs on its own, configured by CIVIC_NATS_URL / CIVIC_DATABASE_URL."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable
from datetime import datetime

from adapters.bus import connect_role
from config import Settings

log = logging.getLogger("civic")
EXIT_STORE_FAILING = 75
"""A role's exit code when its store keeps failing (EX_TEMPFAIL): the supervisor restarts it with backoff."""


async def run_ledger(settings: Settings) -> None:
    from consumers.ledger import LedgerWorker, StoreFailing
    from adapters.deadlines import load_rules
    from adapters.eventstore import event_store_env
    from adapters.keys import KeyStore
    from application.ledger import Ledger

    rules = load_rules(settings)  # a broken policy or calendar file stops the role here, naming file and key
    nc = await connect_role(settings, "ledger")
    stop = _stop_on_signals()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(env=event_store_env(settings), keys=KeyStore(settings.keys_path), rules=rules)
    try:
        await LedgerWorker(nc, ledger, settings.batch_size).run(stop)
    except StoreFailing as e:
        log.error("%s", e)
        await nc.close()
        sys.exit(EXIT_STORE_FAILING)
    await nc.close()  # not drain(): it waits out its timeout on a pull subscription, and all is acked


async def run_relay(settings: Settings) -> None:
    from adapters.eventstore import open_recorder
    from consumers.relay import Relay

    nc = await connect_role(settings, "relay")
    stop = _stop_on_signals()
    recorder = None
    while recorder is None and not stop.is_set():
        try:  # the ledger creates the store's tables; wait for them
            recorder = open_recorder(settings)
            recorder.max_notification_id()
        except Exception as e:
            recorder = None
            log.info("relay waits for the event store (%s)", e)
            await asyncio.sleep(0.5)
    if recorder is not None:
        await Relay(nc, recorder, batch=settings.batch_size, replicas=settings.stream_replicas,
                    alarm_path=settings.ledger_alarm_path, state_path=settings.relay_state_path).run(stop)
    await nc.close()


async def run_eraser(settings: Settings) -> None:
    from adapters.eventstore import open_position_reader
    from consumers.eraser import Eraser
    from schemas.topology import INTAKE

    nc = await connect_role(settings, identity="eraser")
    stop = _stop_on_signals()
    reader = None

    def stored_position() -> int:  # the ledger creates the store's tables; until then nothing is stored
        nonlocal reader
        try:
            reader = reader or open_position_reader(settings)
            return reader.max_tracking_id(INTAKE) or 0
        except Exception:
            reader = None
            return 0
    await Eraser(nc, stored_position).run(stop)
    await nc.close()


async def run_web(settings: Settings) -> None:
    import uvicorn

    from civic.web import create_app

    # A short graceful timeout: an open live-update stream (SSE) would otherwise hold shutdown for its full length.
    tls = settings.web_tls_cert and settings.web_tls_key
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host=settings.host, timeout_graceful_shutdown=2,
                                           port=settings.port, log_level="warning", lifespan="on",
                                           ssl_certfile=str(settings.web_tls_cert) if tls else None,
                                           ssl_keyfile=str(settings.web_tls_key) if tls else None))
    await server.serve()


async def run_projector(settings: Settings) -> None:
    from projections.dashboard import NAME
    from projections.facts import Clock
    from projections import event_index
    from projections.projector import EventIndexer, Projector
    from projections.store import Versions

    nc = await connect_role(settings, "projector")
    stop = _stop_on_signals()
    js = nc.jetstream()
    await asyncio.gather(
        Projector(js, Versions(NAME, settings.data_dir, settings.database_url), Clock(settings.timezone), settings.batch_size, nc).run(stop),
        EventIndexer(js, Versions(event_index.NAME, settings.data_dir, settings.database_url), settings.batch_size).run(stop),
    )
    await nc.close()


async def run_clock(settings: Settings) -> None:
    """The deadline clock (consumers/clock.py): its own identity, its own state file, "now" from the
    wall clock or, for simulations, from CIVIC_CLOCK_NOW_FILE."""
    from faststream.nats import NatsBroker

    from adapters.bus import connect_options
    from adapters.deadlines import load_rules
    from consumers.clock import Clock, ClockConfig, run, wall_clock
    from consumers.clock_state import ClockState, policy_escalation
    from consumers.webhooks import Webhooks

    stop = _stop_on_signals()
    nc = await connect_role(settings, "clock")  # waits for the server and learns its instance id, as every role does
    await nc.close()
    now = wall_clock if settings.clock_now_file is None else _now_from(settings.clock_now_file)
    config = ClockConfig(name=settings.clock_name, escalation=policy_escalation(load_rules(settings)), tick=settings.clock_tick,
                         quiet=settings.clock_quiet)
    clock = Clock(ClockState(settings.clock_state_path), config, now)
    broker = NatsBroker(**connect_options(settings, "clock"), max_reconnect_attempts=-1, reconnect_time_wait=1,
                        logger=log, log_level=logging.DEBUG)
    webhooks = Webhooks.load(settings.clock_webhooks) if settings.clock_webhooks else None
    await run(broker, clock, stop, webhooks)


def _now_from(path: object) -> Callable[[], datetime]:
    """"Now" as the file says (an RFC 3339 instant), for simulations: the clock never waits for a deadline."""
    from pathlib import Path

    def now() -> datetime:
        return datetime.fromisoformat(Path(str(path)).read_text().strip())
    return now


ROLES = {"clock": run_clock, "ledger": run_ledger, "relay": run_relay, "projector": run_projector, "web": run_web, "eraser": run_eraser}


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def _check_lock() -> None:
    """Under `civic up` each role holds the data folder's lock (an inherited descriptor of
    civic.lock): while any of them lives, no second `civic up` can take the folder."""
    import os

    fd = os.environ.get("CIVIC_LOCK_FD")
    if fd is None:
        return  # run on its own (at scale): no folder to share
    try:
        os.fstat(int(fd))
    except (OSError, ValueError):
        sys.exit(f"started by `civic up` without the data folder's lock (CIVIC_LOCK_FD={fd}); refusing to run beside another stack")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m civic.roles")
    parser.add_argument("role", choices=sorted(ROLES))
    parser.add_argument("--data", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--host", default=None, help="web: the address to listen on (0.0.0.0 in a container)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.role:6} %(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env(args.data, port=args.port, host=args.host)
    _check_lock()
    try:
        asyncio.run(ROLES[args.role](settings))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
