"""What a fold split in two would pay to merge: every row of a read model (1M events of history)
merged into a read model of the same schema, counters added, other rows copied. CPU per event."""
import os, sqlite3, sys, time
from pathlib import Path
from projections.dashboard import create_schema, COUNTER_TABLES
from projections.store import SQLiteDatabase

src, events = sys.argv[1], int(sys.argv[2])
dst = Path("/tmp/s8ff/merge-target.sqlite")
for s in ("", "-wal", "-shm", "-journal"):
    Path(f"{dst}{s}").unlink(missing_ok=True)
db = SQLiteDatabase(dst, building=True); create_schema(db); db.close()
c = sqlite3.connect(dst, isolation_level=None)
c.execute("PRAGMA journal_mode=OFF"); c.execute("PRAGMA synchronous=OFF"); c.execute("PRAGMA cache_size=-65536")
c.execute(f"ATTACH '{src}' AS s")
tables = [r[0] for r in c.execute("SELECT name FROM s.sqlite_master WHERE type='table'")]
pk = {}
for t in tables:
    cols = [r for r in c.execute(f"PRAGMA s.table_info({t})")]
    pk[t] = ([r[1] for r in sorted(cols, key=lambda r: r[5]) if r[5]], [r[1] for r in cols])
counters = {t.name for t in COUNTER_TABLES} | {"ticket_flow_total", "deadline_overdue"}
total = time.process_time(); rows_all = 0
c.execute("BEGIN")
for t in tables:
    keys, cols = pk[t]
    n = c.execute(f"SELECT COUNT(*) FROM s.{t}").fetchone()[0]
    t0 = time.process_time()
    if t in counters:
        add = [x for x in cols if x not in keys and x not in ("first_day", "last_day")]
        sets = ", ".join(f"{x} = {t}.{x} + excluded.{x}" for x in add)
        if t == "ticket_flow_total":
            sets += ", first_day = min(first_day, excluded.first_day), last_day = max(last_day, excluded.last_day)"
        c.execute(f"INSERT INTO main.{t} SELECT * FROM s.{t} WHERE true ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}")
    else:
        c.execute(f"INSERT OR IGNORE INTO main.{t} SELECT * FROM s.{t}")
    rows_all += n
    print(f"{t:28} {n:>9,} rows {1e6 * (time.process_time() - t0) / events:6.2f} µs per event of history", flush=True)
c.execute("COMMIT")
cpu = time.process_time() - total
print(f"all {rows_all:,} rows: {cpu:.1f} s CPU, {1e6 * cpu / events:.1f} µs per event of history; a split in two merges half: {0.5e6 * cpu / events:.1f}")
