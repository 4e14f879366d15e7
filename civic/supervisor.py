"""`civic up`: the embedded runtime. One nats-server, then each role in its own process,
restarted with backoff when it dies; the data folder locked against a second stack.

The bus is closed first: the credentials folder gets a key per identity (made once, kept), the
nats-server runs with the authorization rendered from schemas/permissions.py, the admin creates
the streams, and each role connects with its own key (CIVIC_NATS_CREDS, set per process). A
producer added while it runs (`civic producer add`) is taken by reloading the server's config.

Processes, not threads: Python runs one core per process, each SQLite file keeps exactly one
writer (the ledger), and the crash tests SIGKILL real processes.

No orphans: every child gets the parent-death signal (adapters/process.py) and its own process
group (shutdown kills the whole group), and inherits the descriptor that holds DIR/civic.lock,
so a folder stays locked while any process of the stack lives: a new `civic up` refuses, naming
them, instead of running beside them. Ports are checked before anything starts.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import FrameType
from typing import IO


from adapters.credentials import Credentials
from adapters.natsserver import NatsServer, jetstream_problem
from adapters.process import die_with_parent, free_port, holders, port_taken
from config import Settings
from dashboards.health import LIMITS
from schemas import status as wire

log = logging.getLogger("civic.up")
ROLE_ORDER = ("web", "ledger", "relay", "projector", "eraser", "clock")
NATS = "nats-server"
MAX_BACKOFF = 10.0
"""A role that keeps dying is restarted after 0.5 s, 1 s, 2 s ... up to this (reset after a minute up)."""
NATS_CHECK_SECONDS = 2.0
"""How often the supervisor asks nats-server's monitoring endpoint about JetStream."""


@dataclass
class Role:
    name: str
    process: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 0.5
    restarts: int = 0
    due: float = 0.0
    last_exit: int | None = None
    args: list[str] = field(default_factory=list)


class DataDirLocked(SystemExit):
    pass


class PortTaken(SystemExit):
    pass


def lock_data_dir(data_dir: Path) -> IO[str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "civic.lock"
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        pids = holders(path)
        raise DataDirLocked(
            f"{data_dir} is in use by another `civic up` or by processes it left running "
            f"(pids holding {path}: {', '.join(map(str, pids)) or 'unknown'}). Stop them (kill {' '.join(map(str, pids))}) "
            f"and run `civic up` again; a second stack beside them would write the same streams and store."
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def check_ports(wanted: list[tuple[str, str, int]]) -> None:
    """Fail at once, with the reason, when a port `civic up` needs is taken."""
    for what, host, port in wanted:
        problem = port_taken(host, port)
        if problem:
            raise PortTaken(f"civic up: the {what} port {host}:{port} is taken ({problem}); "
                            f"stop what listens there or choose another port")


class Supervisor:
    def __init__(self, settings: Settings, nats_port: int = 0, roles: tuple[str, ...] = ROLE_ORDER):
        self.settings = settings
        self.nats_port = nats_port
        self.monitor_port = 0
        self.roles = [Role(name) for name in roles]
        self.nats: NatsServer | None = None
        self.nats_restarts = 0
        self.nats_problem: str | None = None
        self.nats_checked = 0.0
        self.lock_fd = -1
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
        self.lock_fd = lock.fileno()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        try:
            self.credentials.ensure()  # a data folder from before authorization gets its keys here
            self.roles_mtime = self.credentials.roles_path.stat().st_mtime
            wanted = [("HTTP", self.settings.host, self.settings.port)]
            if not self.settings.nats_url:
                self.monitor_port = free_port()
                wanted += [("NATS", "127.0.0.1", self.nats_port), ("NATS monitoring", "127.0.0.1", self.monitor_port)]
            check_ports(wanted)
            url = self._start_nats()
            self.settings.nats_url_file.write_text(url + "\n")
            self._ensure_bus(url)
            env = {**os.environ, "CIVIC_NATS_URL": url, "CIVIC_DATA_DIR": str(self.settings.data_dir),
                   "CIVIC_LOCK_FD": str(self.lock_fd)}
            if self.nats is not None and self.nats.monitor_url:
                env["CIVIC_NATS_MONITOR_URL"] = self.nats.monitor_url
            log.info("civic up: data in %s, NATS at %s, http://127.0.0.1:%d/healthz", self.settings.data_dir, url, self.settings.port)
            for role in self.roles:
                self._spawn(role, env)
            self._write_status()
            while not self.stopping:
                self._watch(env)
                self._watch_nats()
                self._checkpoint(env)
                time.sleep(0.2)
            return 0
        finally:
            self._shutdown()
            self.settings.nats_url_file.unlink(missing_ok=True)
            self.settings.supervisor_status_path.unlink(missing_ok=True)
            lock.close()

    def _new_nats(self) -> NatsServer:
        return NatsServer(self.settings.data_dir / "nats", port=self.nats_port, credentials=self.credentials.folder,
                          monitor_port=self.monitor_port, supervised=True, pass_fds=(self.lock_fd,)).start()

    def _start_nats(self) -> str:
        if self.settings.nats_url:
            return self.settings.nats_url
        self.nats = self._new_nats()
        self.nats_port = self.nats.port  # a restart keeps the URL every process was given
        return self.nats.url

    def _popen(self, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        """A child that dies with the supervisor, in a process group of its own, holding the lock."""
        return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent,
                                process_group=0, pass_fds=(self.lock_fd,))

    def _ensure_bus(self, url: str) -> None:
        """As admin, before any role starts and after each restart of nats-server: the streams and the
        buckets (the org directory, CIVIC_STATUS, CIVIC_INSTANCE)."""
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
        role.process = self._popen(args, self._role_env(env, role.name))
        role.started = time.monotonic()
        log.info("started %s (pid %d)", role.name, role.process.pid)
        self._write_status()

    def _watch(self, env: dict[str, str]) -> None:
        if self.nats and not self.nats.running():
            log.error("nats-server exited (%s); restarting it", self.nats.process.returncode if self.nats.process else "?")
            self._restart_nats()
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
            role.last_exit = code
            log.error("%s exited with %s; restart %d in %.1fs", role.name, code, role.restarts, role.backoff)
            role.process, role.due = None, now + role.backoff
            role.backoff = min(role.backoff * 2, MAX_BACKOFF)
            self._write_status()

    def _restart_nats(self) -> None:
        if self.nats:
            self.nats.stop()
        self.nats_restarts += 1
        self._write_status(nats_down=True)
        self.nats = self._new_nats()
        self._write_status()
        try:  # CIVIC_STATUS lives in memory: a new server needs it again (the streams are on disk)
            self._ensure_bus(self.nats.url)
        except Exception as e:
            log.error("the bus was not set up again after the restart (%s: %s)", type(e).__name__, e)

    def _watch_nats(self) -> None:
        """A nats-server whose JetStream met a write error (a full disk) stays stuck after space is
        back: restart it then, and only then (a restart onto a full disk would fail the same way)."""
        if self.nats is None or not self.nats.monitor_url or time.monotonic() < self.nats_checked + NATS_CHECK_SECONDS:
            return
        self.nats_checked = time.monotonic()
        problem = jetstream_problem(self.nats.monitor_url, timeout=1.0)
        if problem != self.nats_problem:
            if problem:
                log.error("nats-server reports %s", problem)
            self.nats_problem = problem
            self._write_status()
        if problem == "jetstream_write_error":
            free = shutil.disk_usage(self.nats.store).free
            if free > 2 * LIMITS.disk_full_bytes:  # room again (twice what health calls full)
                log.error("nats-server has a JetStream write error and %d MiB are free again: restarting it", free >> 20)
                self._restart_nats()
                self.nats_problem = None

    def _write_status(self, nats_down: bool = False) -> None:
        processes = {r.name: wire.ProcessStatus(pid=r.process.pid if r.process else None, restarts=r.restarts,
                                                last_exit=r.last_exit, backoff=r.backoff) for r in self.roles}
        if self.nats is not None:
            processes[NATS] = wire.ProcessStatus(pid=None if nats_down or not self.nats.process else self.nats.process.pid,
                                                 restarts=self.nats_restarts)
        state = wire.SupervisorStatus(pid=os.getpid(), processes=processes, nats_problem=self.nats_problem)
        path = self.settings.supervisor_status_path
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(wire.encode(state))
            os.replace(tmp, path)
        except OSError as e:  # a full disk: health says so by other means
            log.warning("supervisor status not written (%s)", e)

    def _checkpoint(self, env: dict[str, str]) -> None:
        if self.checkpoint_every <= 0 or time.monotonic() < self.checkpoint_due:
            return
        if self.checkpointer and self.checkpointer.poll() is None:
            return  # the last one is still verifying; the next starts when it is done
        if self.checkpointer and self.checkpointer.returncode:
            log.error("the scheduled checkpoint failed (exit %s): run `civic audit verify`", self.checkpointer.returncode)
        self.checkpoint_due = time.monotonic() + self.checkpoint_every
        self.checkpointer = self._popen([sys.executable, "-m", "civic.cli", "audit", "checkpoint", "--data", str(self.settings.data_dir)],
                                        self._role_env(env, "checkpoint"))

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
                _kill_group(p)
        if self.nats:
            self.nats.stop()
        log.info("civic up: stopped")


def _kill_group(p: subprocess.Popen[bytes]) -> None:
    """SIGKILL a child and anything it started (its own process group)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    p.wait()
