"""The live fold (batch 1,000) of the 50k window on a copy of a level's snapshot, its write time
split by table (each executemany/execute timed, CPU of this thread), at two levels."""
import re, shutil, sys, time
from collections import defaultdict
from pathlib import Path
from bench import growth
from projections import store

spent: dict[str, float] = defaultdict(float)
name = re.compile(r"(?:INTO|UPDATE|FROM|DELETE FROM)\s+(\w+)", re.I)
for cls in (store.SQLiteDatabase,):
    for meth in ("execute", "executemany", "query"):
        orig = getattr(cls, meth)
        def timed(self, sql, *a, _orig=orig, _m=meth, **k):
            t0 = time.thread_time()
            try:
                return _orig(self, sql, *a, **k)
            finally:
                m = name.search(sql)
                spent[(_m if _m == "query" else "write") + " " + (m.group(1) if m else sql[:20])] += time.thread_time() - t0
        setattr(cls, meth, timed)

from contextlib import contextmanager
@contextmanager
def transaction(self):
    self.conn.execute("BEGIN IMMEDIATE")
    yield
    t0 = time.thread_time(); w0 = time.perf_counter()
    self.conn.execute("COMMIT")
    spent["COMMIT cpu"] += time.thread_time() - t0
    spent["COMMIT wall"] += time.perf_counter() - w0
store.SQLiteDatabase.transaction = transaction
import os
if os.environ.get("AUTOCKPT"):
    _init = store.SQLiteDatabase.__init__
    def init(self, *a, **k):
        _init(self, *a, **k)
        self.conn.execute(f"PRAGMA wal_autocheckpoint={os.environ['AUTOCKPT']}")
    store.SQLiteDatabase.__init__ = init
level = int(sys.argv[1]); batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
data = Path("/tmp/s8ff/data")
shutil.copy(f"/tmp/s8ff/snap-{level}/growth-dashboard.sqlite", data / "prof.sqlite")
for s in ("-wal", "-shm"):
    (data / f"prof.sqlite{s}").unlink(missing_ok=True)
r = growth.fold(data, level, 50000, batch, model="prof.sqlite")
print(level, {k: round(v, 1) for k, v in r.items()})
for k, v in sorted(spent.items(), key=lambda kv: -kv[1])[:18]:
    print(f"  {k:40} {1e6 * v / 50000:6.1f} µs/event")
