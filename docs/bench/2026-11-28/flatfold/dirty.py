"""Which B-trees one batch of 1,000 dirties: fold 9 batches, checkpoint, fold the 10th without
checkpoints, read the WAL's frame page numbers, map them to tables/indexes with dbstat."""
import shutil, sqlite3, struct, sys, collections
from pathlib import Path
sys.argv += [] 
data, snap, start = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
nb = int(sys.argv[4]) if len(sys.argv) > 4 else 1
work = Path("/tmp/ff/exp")
for f in work.iterdir():
    if f.name.startswith("growth-dashboard") or f.is_symlink(): f.unlink()
for f in data.iterdir():
    if not f.name.startswith("growth-dashboard"): (work / f.name).symlink_to(f.resolve())
shutil.copy(snap / "growth-dashboard.sqlite", work / "growth-dashboard.sqlite")
from projections.dashboard import DashboardProjection
from projections.facts import Clock
from projections.rebuild import StoreReader
from projections.store import SQLiteDatabase
from config import Settings
db = SQLiteDatabase(work / "growth-dashboard.sqlite")
proj = DashboardProjection(db, Clock())
store = StoreReader(Settings(data_dir=work)); store.position = store.notification = start
for _ in range(9):
    proj.apply(store.read(proj.position(), start + 50000, 1000))
db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)"); db.conn.execute("PRAGMA wal_autocheckpoint=0")
for _ in range(nb):
    proj.apply(store.read(proj.position(), start + 50000, 1000))
ps = db.query("PRAGMA page_size")[0][0]
raw = (work / "growth-dashboard.sqlite-wal").read_bytes()
pages = set()
off = 32
while off + 24 <= len(raw):
    pages.add(struct.unpack(">I", raw[off:off + 4])[0]); off += 24 + ps
names = dict(db.query("SELECT pageno, name FROM dbstat"))
c = collections.Counter(names.get(p, "?") for p in pages)
print(f"level {start}: {len(pages)} distinct dirty pages over {nb} batch(es)")
for k, v in c.most_common(): print(f"  {k:30s} {v}")
