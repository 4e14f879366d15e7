"""Random vs ordered event-id inserts into a (segment, event_id) keyed table holding N rows, on PostgreSQL:
the server's CPU per event (its backend's /proc stat) and the WAL bytes per event."""
import os, random, sys, time, uuid
import psycopg
N, mode = int(sys.argv[1]), sys.argv[2]
url = "postgresql://postgres@127.0.0.1:55433/postgres"
conn = psycopg.connect(url, autocommit=True)
conn.execute("SET synchronous_commit TO off")
t = f"ix_{mode}_{N}"
exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (t,)).fetchone()[0]
def ident(i):
    return str(uuid.UUID(int=random.Random(i).getrandbits(128))) if mode == "random" else f"T{i:09d}-1"
if not exists:
    conn.execute(f'CREATE TABLE {t} (segment INTEGER NOT NULL, event_id TEXT COLLATE "C" NOT NULL, position BIGINT NOT NULL, subject TEXT COLLATE "C", PRIMARY KEY (segment, event_id))')
    rows = sorted(((i >> 19, ident(i), i, "civic.ledger.ticket.raised.d.t1.t1v1.t1v1g3") for i in range(N)), key=lambda r: (r[0], r[1]))
    with conn.cursor() as c:
        with c.copy(f"COPY {t} (segment, event_id, position, subject) FROM STDIN") as cp:
            for r in rows: cp.write_row(r)
    conn.execute(f"VACUUM ANALYZE {t}")
conn.execute("CHECKPOINT")
pid = conn.info.backend_pid
def cpu():
    f = open(f"/proc/{pid}/stat").read().split(")")[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
lsn0 = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
c0, w0 = cpu(), time.perf_counter()
for b in range(50):
    rows = [((N + b * 1000 + k) >> 19, ident(N + b * 1000 + k), N + b * 1000 + k, "civic.ledger.ticket.raised.d.t1.t1v1.t1v1g3") for k in range(1000)]
    with conn.transaction():
        with conn.cursor() as c:
            c.executemany(f"INSERT INTO {t} VALUES (%s, %s, %s, %s) ON CONFLICT (segment, event_id) DO NOTHING", rows)
c1, w1 = cpu(), time.perf_counter()
wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (lsn0,)).fetchone()[0]
print(f"{mode:8s} N={N:>9,} server CPU {1e6*(c1-c0)/50000:6.1f} us/event  WAL {float(wal)/50000:7.0f} B/event  wall {1e6*(w1-w0)/50000:6.1f} us", flush=True)
