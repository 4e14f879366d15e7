"""The live fold (batches of 1,000, bench/growth.py fold) of a level's 50k window on a fresh copy of
its snapshot (flatfold/driver.py), CPU per event, and the commit's share of it.
usage: cpu.py DATA SNAPDIR START   (the snapshot is brought to this code's layout by create_schema
before the timed fold, as the projector does at its start)"""
import json, os, shutil, sys, time
from contextlib import contextmanager
from pathlib import Path

from bench import growth
from projections import store

data, snap, start = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
commit = {"cpu": 0.0}
_transaction = store.SQLiteDatabase.transaction


@contextmanager
def transaction(self):
    self.conn.execute("BEGIN IMMEDIATE")
    yield
    t0 = time.thread_time()
    self.conn.execute("COMMIT")
    commit["cpu"] += time.thread_time() - t0


store.SQLiteDatabase.transaction = transaction
model = f"cpu-{os.getpid()}.sqlite"
shutil.copy(snap / "growth-dashboard.sqlite", data / model)
try:
    r = growth.fold(data, start, 50000, 1000, model=model)
    r["commit_us"] = 1e6 * commit["cpu"] / 50000
    print(json.dumps({"level": start, "code": str(Path(growth.__file__).parent.parent), **{k: round(v, 1) for k, v in r.items()}}), flush=True)
finally:
    for s in ("", "-wal", "-shm"):
        (data / (model + s)).unlink(missing_ok=True)
