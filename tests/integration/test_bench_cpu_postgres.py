"""bench/cpu.py on PostgreSQL: the server's CPU (a postmaster and a process per connection) counts
in each phase beside the roles', found from a connection's backend (bench/run.py postgres_server)."""

from __future__ import annotations

import time
from pathlib import Path

from bench.cpu import Meter


def test_the_postgres_server_on_this_machine_is_found_and_metered(postgres_url: str) -> None:
    import psycopg

    from bench.run import postgres_server

    postmaster = postgres_server(postgres_url)
    assert postmaster is not None and b"postgres" in Path(f"/proc/{postmaster}/cmdline").read_bytes()
    meter = Meter(trees=lambda: {"postgres": postmaster})
    with meter.phase("queries") as phase:
        with psycopg.connect(postgres_url) as conn:
            backend = Path(f"/proc/{conn.info.backend_pid}")
            conn.execute("SELECT count(*) FROM generate_series(1, 3000000)").fetchone()
        # The barrier: the backend has exited and been reaped, so its work is in the server's
        # cutime (a child's time moves there when its parent waits for it, before /proc forgets it).
        deadline = time.monotonic() + 10
        while backend.exists():
            assert time.monotonic() < deadline, "the backend did not exit"
            time.sleep(0.01)
        phase.count = 1
    assert phase.cpu_s["postgres"] > 0.05  # the backend's work, counted though it is not our process
