"""`civic up`: the embedded runtime. One nats-server, then each role in its own process,
restarted when it dies; the data folder locked against a second supervisor.

The bus is closed first: the credentials folder gets a key per identity (made once, kept), the
nats-server runs with the authorization rendered from schemas/permissions.py, the admin creates
the streams, and each role connects with its own key (CIVIC_NATS_CREDS, set per process). A
producer added while it runs (`civic producer add`) is taken by reloading the server's config.

Processes, not threads: Python runs one core per process, each SQLite file keeps exactly one
writer (the ledger), and the crash tests SIGKILL real processes.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import IO


from adapters.credentials import Credentials
from adapters.natsserver import NatsServer
from config import Settings

log = logging.getLogger("civic.up")
ROLE_ORDER = ("web", "ledger", "relay", "projector", "eraser")


@dataclass
class Role:
    name: str
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 0.5
    restarts: int = 0
    due: float = 0.0
    args: list[str] = field(default_factory=list)


class DataDirLocked(SystemExit):
    pass


def lock_data_dir(data_dir: Path) -> IO[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(data_dir / "civic.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise DataDirLocked(f"{data_dir} is in use by another `civic up` (pid in {data_dir / 'civic.lock'})") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


class Supervisor:
    def __init__(self, settings: Settings, nats_port: int = 0, roles: tuple[str, ...] = ROLE_ORDER):
        self.settings = settings
        self.nats_port = nats_port
        self.roles = [Role(name) for name in roles]
        self.nats: NatsServer | None = None
        self.stopping = False
        # Signed checkpoints of the chain head (audit/checkpoint.py), each a short `civic audit
        # checkpoint` process: a slow or failing one never holds up the supervision of the roles.
        self.checkpoint_every = settings.checkpoint_minutes * 60
        self.checkpoint_due = time.monotonic() + self.checkpoint_every
        self.checkpointer: subprocess.Popen[bytes] | None = None
        self.credentials = Credentials(settings.credentials_folder)
        self.roles_mtime = 0.0

    def run(self) -> int:
        if self.checkpoint_every > 0:
            from audit.checkpoint import CheckpointsUnusable, default_paths

            try:
                default_paths(self.settings)  # refuse a checkpoint folder inside the data folder now, not every 10 minutes
            except CheckpointsUnusable as e:
                raise SystemExit(str(e)) from None
        lock = lock_data_dir(self.settings.data_dir)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        try:
            self.credentials.ensure()  # a data folder from before authorization gets its keys here
            self.roles_mtime = self.credentials.roles_path.stat().st_mtime
            url = self._start_nats()
            self.settings.nats_url_file.write_text(url + "\n")
            self._ensure_bus(url)
            env = {**os.environ, "CIVIC_NATS_URL": url, "CIVIC_DATA_DIR": str(self.settings.data_dir)}
            log.info("civic up: data in %s, NATS at %s, http://127.0.0.1:%d/healthz", self.settings.data_dir, url, self.settings.port)
            for role in self.roles:
                self._spawn(role, env)
            while not self.stopping:
                self._watch(env)
                self._checkpoint(env)
                time.sleep(0.2)
            return 0
        finally:
            self._shutdown()
            self.settings.nats_url_file.unlink(missing_ok=True)
            lock.close()

    def _start_nats(self) -> str:
        if self.settings.nats_url:
            return self.settings.nats_url
        self.nats = self._nats_server().start()
        self.nats_port = self.nats.port  # a restart keeps the URL every process was given
        return self.nats.url

    def _nats_server(self) -> NatsServer:
        return NatsServer(self.settings.data_dir / "nats", port=self.nats_port, credentials=self.credentials.folder)

    def _ensure_bus(self, url: str) -> None:
        """As admin, before any role starts: the streams and the org directory bucket."""
        import asyncio

        from adapters.bus import ensure_bus

        asyncio.run(asyncio.wait_for(ensure_bus(replace(self.settings, nats_url=url)), 60))

    def _role_env(self, env: dict[str, str], identity: str) -> dict[str, str]:
        """Each process connects with its own identity's key."""
        seed = self.credentials.seed_path(identity)
        return {**env, "CIVIC_NATS_CREDS": str(seed)} if seed.exists() else env

    def _watch_roles(self) -> None:
        """`civic producer add` wrote roles.json: render the config again and reload the server."""
        try:
            mtime = self.credentials.roles_path.stat().st_mtime
        except FileNotFoundError:
            return
        if mtime != self.roles_mtime:
            self.roles_mtime = mtime
            if self.nats:
                log.info("credentials changed (%s): reloading nats-server's authorization", self.credentials.roles_path)
                self.nats.reload()

    def _spawn(self, role: Role, env: dict[str, str]) -> None:
        args = [sys.executable, "-m", "civic.roles", role.name, "--data", str(self.settings.data_dir)]
        if role.name == "web":
            args += ["--port", str(self.settings.port)]
        role.process = subprocess.Popen(args, env=self._role_env(env, role.name), stdin=subprocess.DEVNULL)
        role.started = time.monotonic()
        log.info("started %s (pid %d)", role.name, role.process.pid)

    def _watch(self, env: dict[str, str]) -> None:
        if self.nats and not self.nats.running():
            log.error("nats-server exited (%s); restarting it", self.nats.process.returncode if self.nats.process else "?")
            self.nats = self._nats_server().start()
        self._watch_roles()
        now = time.monotonic()
        for role in self.roles:
            if role.process is None:
                if now >= role.due:
                    self._spawn(role, env)
                continue
            code = role.process.poll()
            if code is None:
                if now - role.started > 60:
                    role.backoff = 0.5  # healthy for a minute: forget earlier crashes
                continue
            role.restarts += 1
            log.error("%s exited with %s; restart %d in %.1fs", role.name, code, role.restarts, role.backoff)
            role.process, role.due = None, now + role.backoff
            role.backoff = min(role.backoff * 2, 30.0)

    def _checkpoint(self, env: dict[str, str]) -> None:
        if self.checkpoint_every <= 0 or time.monotonic() < self.checkpoint_due:
            return
        if self.checkpointer and self.checkpointer.poll() is None:
            return  # the last one is still verifying; the next starts when it is done
        if self.checkpointer and self.checkpointer.returncode:
            log.error("the scheduled checkpoint failed (exit %s): run `civic audit verify`", self.checkpointer.returncode)
        self.checkpoint_due = time.monotonic() + self.checkpoint_every
        self.checkpointer = subprocess.Popen([sys.executable, "-m", "civic.cli", "audit", "checkpoint", "--data", str(self.settings.data_dir)],
                                             env=self._role_env(env, "checkpoint"), stdin=subprocess.DEVNULL)

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        self.stopping = True

    def _shutdown(self) -> None:
        live = [r.process for r in reversed(self.roles) if r.process and r.process.poll() is None]
        if self.checkpointer and self.checkpointer.poll() is None:
            live.append(self.checkpointer)
        for p in live:
            p.terminate()
        deadline = time.monotonic() + 15
        for p in live:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if self.nats:
            self.nats.stop()
        log.info("civic up: stopped")
