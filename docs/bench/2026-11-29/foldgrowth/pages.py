"""Which B-trees one live batch of 1,000 dirties, on main's layout: on a copy of a level's snapshot
(flatfold/driver.py), fold `warm` batches (default none), then `k` (default 50: the whole window) batches each after a TRUNCATE checkpoint with
autocheckpoint off, read that batch's WAL frames' page numbers and map them to tables and indexes
with dbstat. Prints the mean distinct pages per batch by B-tree, then each batch's (counter tables / the rest).
usage: pages.py DATA SNAPDIR START [K] [WARM]   (env MODEL_PATCH=module: imported first, to try a layout)"""
import collections, importlib, os, shutil, struct, sys
from pathlib import Path

data, snap, start = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
k = int(sys.argv[4]) if len(sys.argv) > 4 else 50
warm = int(sys.argv[5]) if len(sys.argv) > 5 else 0
if os.environ.get("MODEL_PATCH"):
    importlib.import_module(os.environ["MODEL_PATCH"])
from config import Settings
from projections.dashboard import FLOW_TOTAL, LAID_OUT, DashboardProjection, create_schema
from projections.facts import Clock
from projections.rebuild import StoreReader
from projections.store import SQLiteDatabase

model = data / f"pages-{os.getpid()}.sqlite"
shutil.copy(snap / "growth-dashboard.sqlite", model)
try:
    db = SQLiteDatabase(model)
    create_schema(db)
    proj = DashboardProjection(db, Clock())
    store = StoreReader(Settings(data_dir=data)); store.position = store.notification = start
    for _ in range(warm):
        proj.apply(store.read(proj.position(), start + 50000, 1000))
    db.conn.execute("PRAGMA wal_autocheckpoint=0")
    ps = db.query("PRAGMA page_size")[0][0]
    per_batch, days = [], []
    for _ in range(k):
        db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        batch = store.read(proj.position(), start + 50000, 1000)
        days.append(batch[-1][1].occurred_at.astimezone(Clock().tz).date().isoformat())
        proj.apply(batch)
        raw = Path(str(model) + "-wal").read_bytes()
        pages, off = set(), 32
        while off + 24 <= len(raw):
            pages.add(struct.unpack(">I", raw[off:off + 4])[0]); off += 24 + ps
        per_batch.append(pages)
    names = dict(db.query("SELECT pageno, name FROM dbstat"))
    total = collections.Counter()
    for pages in per_batch:
        total.update(names.get(p, "?") for p in pages)
    size = db.query("PRAGMA page_count")[0][0]
    print(f"level {start}: {sum(map(len, per_batch)) / k:.0f} distinct dirty pages per batch (mean of {k}), file {size} pages")
    for name, n in total.most_common():
        print(f"  {name:34s} {n / k:7.1f}")
    # Per batch, with the district's day of its last event: the counter tables' pages follow the
    # day of the month (month-major keys), the rest do not.
    counters = {t.name for t in LAID_OUT} | {FLOW_TOTAL}
    for day, pages in zip(days, per_batch):
        by = [names.get(p, "?") for p in pages]
        print(f"  batch ending {day}: {len(pages)} pages, counter tables {sum(n in counters for n in by)}, other {sum(n not in counters for n in by)}")
    store.close(); db.close()
finally:
    for s in ("", "-wal", "-shm"):
        Path(str(model) + s).unlink(missing_ok=True)
