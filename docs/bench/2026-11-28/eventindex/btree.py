"""Event index growth, as the indexer writes it: a 50k window of random event ids, intake and ledger
followers in batches of 1,000 each (their own transactions), into tables holding `level` rows.
variant: today (rowid tables, TEXT PRIMARY KEY) or norowid (WITHOUT ROWID)."""
import os, sys, time, uuid, random, shutil
sys.path.insert(0, "/work/main")
from projections.store import SQLiteDatabase
from pathlib import Path
level, variant = int(sys.argv[1]), sys.argv[2]
suffix = " WITHOUT ROWID" if variant == "norowid" else ""
DDL = [f"CREATE TABLE IF NOT EXISTS tracking (name TEXT PRIMARY KEY, position INTEGER NOT NULL)",
       f"CREATE TABLE IF NOT EXISTS intake (event_id TEXT PRIMARY KEY, sequence INTEGER NOT NULL, subject TEXT){suffix}",
       f"CREATE TABLE IF NOT EXISTS accepted (event_id TEXT PRIMARY KEY, position INTEGER NOT NULL, subject TEXT){suffix}"]
path = Path(f"/tmp/ei/{variant}-{level}.sqlite")
SUBJ = "civic.intake.ticket.raised.0f1e2d3c-aaaa-bbbb-cccc-0123456789ab.5a6b7c8d-aaaa-bbbb-cccc-0123456789ab"
if not path.exists():
    db = SQLiteDatabase(path)
    for s in DDL: db.execute(s)
    rnd = random.Random(level)
    ids = sorted(str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(level))
    for table, col in (("intake", "sequence"), ("accepted", "position")):
        with db.transaction():
            db.executemany(f"INSERT INTO {table} (event_id, {col}, subject) VALUES (?, ?, ?)", ((i, n, SUBJ) for n, i in enumerate(ids)))
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)"); db.close()
work = Path("/tmp/ei/work.sqlite"); shutil.copy(path, work)
for s in ("-wal", "-shm"): Path(str(work) + s).unlink(missing_ok=True)
db = SQLiteDatabase(work)
rnd = random.Random(7)
t0 = os.times(); w0 = time.perf_counter()
for b in range(50):
    ids = [str(uuid.UUID(int=rnd.getrandbits(128), version=4)) for _ in range(1000)]
    for table, col in (("intake", "sequence"), ("accepted", "position")):
        with db.transaction():
            db.executemany(f"INSERT INTO {table} (event_id, {col}, subject) VALUES (?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
                           ((i, level + n, SUBJ) for n, i in enumerate(ids)))
            db.execute("INSERT INTO tracking VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET position=excluded.position", (table, level + b))
t1 = os.times(); w1 = time.perf_counter()
print(f"{variant:8s} {level:>9,} user {(t1.user-t0.user)/50000*1e6:5.1f} sys {(t1.system-t0.system)/50000*1e6:5.1f} "
      f"wall {(w1-w0)/50000*1e6:6.1f} us/event  file {path.stat().st_size>>20} MB", flush=True)
