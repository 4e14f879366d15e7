"""The live phase of `civic bench` alone, on a throwaway PostgreSQL 15 cluster set up as
scripts/bench-postgres sets it up (initdb C.UTF-8, shared_buffers=256MB, fsync on), with the
server's WAL, checkpoint and buffer counters read before and after, so the server's CPU per event
can be set beside the WAL bytes, full-page images (FPIs) and checkpoints per event.

    .venv/bin/python docs/bench/2026-11-28/pgwal/live.py --events 300000 --ids uuid \
        [--set wal_compression=lz4 --set max_wal_size=4GB ...] --out docs/bench/2026-11-28/pgwal/x.json

--ids ordered gives the district's events the ids that grew in order before stop 19 (the key
itself, "T25554-4"); uuid the ones producers make (bench/district.py event_id). The change is made
in this process only (the bench publishes the events), never in bench/district.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import nats
import psycopg

import bench.district
from adapters.bus import ensure_streams
from adapters.natsserver import NatsServer, fixture_password
from bench.cpu import Meter
from bench.run import Stack, _ready, free_port, live, postgres_server, until

WAL = "SELECT wal_records, wal_fpi, wal_bytes::bigint, wal_buffers_full, wal_write, wal_sync FROM pg_stat_wal"
BGWRITER = ("SELECT checkpoints_timed, checkpoints_req, buffers_checkpoint, buffers_clean, buffers_backend, "
            "buffers_backend_fsync, buffers_alloc FROM pg_stat_bgwriter")
DATABASE = ("SELECT blks_read, blks_hit, tup_inserted, tup_updated, tup_deleted, xact_commit "
            "FROM pg_stat_database WHERE datname = 'civic'")
SIZES = ("SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
         "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind IN ('r', 'i') "
         "ORDER BY 2 DESC LIMIT 25")


def snapshot(url: str) -> dict[str, int]:
    with psycopg.connect(url, autocommit=True) as conn:
        out: dict[str, int] = {}
        for query in (WAL, BGWRITER, DATABASE):
            cur = conn.execute(query)
            row = cur.fetchone()
            assert row is not None and cur.description is not None
            out |= {col.name: int(value) for col, value in zip(cur.description, row)}
        return out


STATEMENTS = ("SELECT round(total_exec_time::numeric, 0) AS ms, calls, rows, shared_blks_hit AS hit, shared_blks_read AS read, "
              "shared_blks_dirtied AS dirtied, shared_blks_written AS written, wal_fpi, wal_bytes::bigint, "
              "left(regexp_replace(query, '\\s+', ' ', 'g'), 160) AS query "
              "FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 30")


def cluster(root: Path, settings: list[str]) -> tuple[Path, str, list[str]]:
    bindir = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))[-1]).parent
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres")
    subprocess.run([*as_postgres, str(bindir / "initdb"), "-D", str(root / "data"), "-U", "postgres", "-A", "trust",
                    "-E", "UTF8", "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200 -c shared_buffers=256MB " \
              "-c log_autovacuum_min_duration=0 -c log_checkpoints=on " + " ".join(f"-c {s}" for s in settings)
    subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(root / "data"), "-l", str(root / "log"), "-w",
                    "-o", options, "start"], check=True, stdout=subprocess.DEVNULL)
    url = f"postgresql://postgres@127.0.0.1:{port}"
    with psycopg.connect(f"{url}/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE civic")
    return bindir, url, as_postgres


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--ids", choices=("uuid", "ordered"), default="uuid")
    parser.add_argument("--set", action="append", default=[], help="a PostgreSQL setting, name=value")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--statements", action="store_true",
                        help="load pg_stat_statements and record each statement's time, buffers and WAL")
    args = parser.parse_args()
    if args.ids == "ordered":
        bench.district.event_id = lambda key: key  # type: ignore[assignment]  # as before stop 19: ids in order
    with tempfile.TemporaryDirectory(prefix="civic-pgwal-") as tmp, \
            tempfile.TemporaryDirectory(prefix="civic-pgwal-pg-") as pg_root:  # its own, so postgres may own it
        root = Path(tmp)
        extra = ["shared_preload_libraries=pg_stat_statements", "pg_stat_statements.track=all"] if args.statements else []
        bindir, pg, as_postgres = cluster(Path(pg_root), extra + args.set)
        if args.statements:
            with psycopg.connect(f"{pg}/civic", autocommit=True) as conn:
                conn.execute("CREATE EXTENSION pg_stat_statements")
        server = NatsServer(root / "nats", password=fixture_password()).start()
        try:
            url = f"{pg}/civic"
            stack = Stack(root, server, url)
            postmaster = postgres_server(url)
            meter = Meter(lambda: {"nats-server": server.process.pid if server.process else 0,
                                   **{name: p.pid for name, p in stack.roles.items() if p.poll() is None}},
                          trees=lambda: {"postgres": postmaster} if postmaster else {})
            nc = await nats.connect(server.url)
            js = nc.jetstream(publish_async_max_pending=4000)
            await ensure_streams(js)
            stack.start("web", "ledger", "relay", "projector")
            await until(lambda: _ready(stack, js), 60, 0.2)
            log_start = (Path(pg_root) / "log").stat().st_size
            before = snapshot(url)
            if args.statements:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("SELECT pg_stat_statements_reset()")
            with meter.phase("live", own="publisher") as phase:
                rate = await live(stack, js, args.events, {})
                phase.count = args.events
            after = snapshot(url)
            stack.stop()
            await nc.close()
            log = (Path(pg_root) / "log").read_text(errors="replace")[log_start:]
            with psycopg.connect(url, autocommit=True) as conn:
                statements = [dict(zip([c.name for c in cur.description or ()], row))
                              for cur in [conn.execute(STATEMENTS)] for row in cur.fetchall()] if args.statements else []
                sizes = {name: int(size) for name, size in conn.execute(SIZES).fetchall()}
                shown = {name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                         for name in ("wal_compression", "max_wal_size", "checkpoint_timeout", "full_page_writes",
                                      "shared_buffers", "lc_collate")}
        finally:
            server.stop()
            subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(Path(pg_root) / "data"), "-m", "fast", "stop"],
                           check=False, stdout=subprocess.DEVNULL)
    n = args.events
    delta = {k: after[k] - before[k] for k in before}
    live_phase = meter["live"]
    result = {
        "events": n, "ids": args.ids, "settings": shown, "rate": rate, "wall_s": live_phase.wall_s,
        "cpu_us_per_event": {who: 1e6 * s / n for who, s in sorted(live_phase.cpu_s.items(), key=lambda kv: -kv[1])},
        "per_event": {"wal_bytes": delta["wal_bytes"] / n, "wal_fpi": delta["wal_fpi"] / n,
                      "wal_records": delta["wal_records"] / n, "buffers_checkpoint": delta["buffers_checkpoint"] / n,
                      "buffers_backend": delta["buffers_backend"] / n, "buffers_clean": delta["buffers_clean"] / n,
                      "blks_read": delta["blks_read"] / n},
        "checkpoints": {"timed": delta["checkpoints_timed"], "requested": delta["checkpoints_req"]},
        "delta": delta,
        "autovacuum_runs": len(re.findall(r"automatic (?:vacuum|analyze)", log)),
        "checkpoint_log": [line for line in log.splitlines() if "checkpoint" in line],
        "autovacuum_log": [line for line in log.splitlines() if "automatic" in line],
        "relation_bytes": sizes,
        "statements": [{k: (float(v) if k == "ms" else v) for k, v in row.items()} for row in statements],
    }
    args.out.write_text(json.dumps(result, indent=1))
    pg_us = result["cpu_us_per_event"].get("postgres", 0.0)
    print(f"{args.ids} {n:,} {' '.join(args.set) or 'defaults'}: {rate:,.0f} events/s; postgres {pg_us:.1f} us/event; "
          f"WAL {result['per_event']['wal_bytes']:,.0f} B/event, FPI {result['per_event']['wal_fpi']:.3f}/event; "
          f"checkpoints {delta['checkpoints_timed']} timed + {delta['checkpoints_req']} requested; "
          f"buffers_checkpoint {result['per_event']['buffers_checkpoint']:.3f}/event, backend {result['per_event']['buffers_backend']:.3f}/event, "
          f"blks_read {result['per_event']['blks_read']:.3f}/event; autovacuum {result['autovacuum_runs']}", flush=True)
    print(json.dumps(result["cpu_us_per_event"]), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
