"""Hypothesis 2: the ledger's civic_event_ids (event_id text PRIMARY KEY) has the database's collation
(C.UTF-8, compared through strcoll in PostgreSQL 15), the event index's keys COLLATE "C" (memcmp).
The ledger's two statements on it, per batch of 1,000 new uuid ids: the look-up
`event_id = ANY($1)` (adapters/eventstore_pg.py fingerprints) and the inserts, on a table of N rows,
with either collation; the server's CPU per id from its backend's /proc stat.

    .venv/bin/python docs/bench/2026-11-28/pgwal/collate.py postgresql://postgres@127.0.0.1:PORT/civic 1000000
"""

import os
import sys
import time
import uuid

import psycopg

url, n = sys.argv[1], int(sys.argv[2])
conn = psycopg.connect(url, autocommit=True)
pid = conn.info.backend_pid


def cpu() -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


print(conn.execute("SHOW lc_collate").fetchone()[0], conn.execute("SELECT version()").fetchone()[0][:40])
for collate in ("", ' COLLATE "C"'):
    table = "ids_c" if collate else "ids_default"
    conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.execute(f"CREATE TABLE {table} (event_id text{collate} PRIMARY KEY, fingerprint text NOT NULL)")
    with conn.cursor() as cur, cur.copy(f"COPY {table} FROM STDIN") as copy:
        for i in range(n):
            copy.write_row((str(uuid.uuid4()), "f" * 22))
    conn.execute(f"VACUUM ANALYZE {table}")
    batches = [[str(uuid.uuid4()) for _ in range(1000)] for _ in range(50)]
    c0 = cpu()
    for ids in batches:
        conn.execute(f"SELECT event_id, fingerprint FROM {table} WHERE event_id = ANY(%s)", (sorted(ids),)).fetchall()
    c1 = cpu()
    for ids in batches:
        with conn.transaction(), conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {table} VALUES (%s, %s)", [(i, "f" * 22) for i in ids])
    c2 = cpu()
    ids = 50 * 1000
    print(f"{table:12s} {n:,} rows: look-up {1e6 * (c1 - c0) / ids:5.1f} us/id, insert {1e6 * (c2 - c1) / ids:5.1f} us/id", flush=True)
