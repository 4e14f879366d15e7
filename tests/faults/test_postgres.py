"""PostgreSQL (the event store and the read models at scale) stopped, then started: health says
postgres_unreachable while it is down, and the stack heals without a human."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import _postgres_bin
from tests.faults.stack import assert_recovered, feed, feed_while_failing


class Postgres:
    """A cluster of the test's own, so that stopping it stops nobody else's tests."""

    def __init__(self) -> None:
        bindir = _postgres_bin()
        if bindir is None:
            pytest.fail("PostgreSQL is not installed: run scripts/test, which installs Debian's postgresql")
        self.bin, self.root = bindir, Path(tempfile.mkdtemp(prefix="civic-fault-pg-"))
        self.data = self.root / "data"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.root, "postgres")
        subprocess.run([*self.as_postgres, str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                        "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"], check=True, capture_output=True)
        self.start()
        subprocess.run([*self.as_postgres, str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                        "-c", "CREATE DATABASE civic"], check=True, capture_output=True)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/civic"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run([*self.as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), *args],
                       check=True, capture_output=True)

    def start(self) -> None:
        self.pg_ctl("-w", "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run([*self.as_postgres, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def postgres():
    pg = Postgres()
    yield pg
    pg.remove()


def test_postgres_stopped_is_reported_and_heals_when_started(stack, events, postgres):
    up = stack(CIVIC_DATABASE_URL=postgres.url).ready()
    half = len(events) // 2
    acked = feed(up, events[:half])
    up.ok()
    postgres.stop()
    try:
        during = feed_while_failing(up, events[half:half + 20])  # intake still takes them
        assert up.says("postgres_unreachable")["status"] == "faulty"
    finally:
        postgres.start()
    acked += during + feed(up, events[half + len(during):])
    assert_recovered(up, acked)
