"""The growth bench's 50,000-event window folded at several batch sizes, each on a fresh copy of a
level's read model (as flatfold/driver.py keeps them: SNAPS/snap-<level>/), each fold in a process
of its own (`python -m bench.growth fold`, the growth bench's own stage: CPU µs per event, peak RSS);
the batch sizes interleaved within a round so the shared machine's load falls on all of them alike.
usage: batches.py DATA SNAPS LEVELS BATCHES ROUNDS      e.g. /tmp/rb/data /tmp/rb 100000,1000000 1000,5000,10000,20000 2
With `pages` after them: distinct pages one batch writes instead (no timing): fold 10,000 events,
checkpoint, fold one batch of each size without checkpoints, count the WAL's distinct page numbers."""
import json, resource, shutil, sqlite3, struct, subprocess, sys
from pathlib import Path

data, snaps = Path(sys.argv[1]), Path(sys.argv[2])
levels = [int(x) for x in sys.argv[3].split(",")]
batches = [int(x) for x in sys.argv[4].split(",")]
rounds = int(sys.argv[5])
pages_mode = sys.argv[6:] == ["pages"]


def fresh(level: int) -> Path:
    work = snaps / "exp"
    work.mkdir(exist_ok=True)
    for f in work.iterdir():
        f.unlink()
    for f in data.iterdir():
        if not f.name.startswith("growth-dashboard"):
            (work / f.name).symlink_to(f.resolve())
    shutil.copy(snaps / f"snap-{level}" / "growth-dashboard.sqlite", work / "growth-dashboard.sqlite")
    return work


def pages(level: int, batch: int) -> dict:
    from projections.dashboard import DashboardProjection
    from projections.facts import Clock
    from projections.rebuild import StoreReader
    from projections.store import SQLiteDatabase
    from config import Settings
    work = fresh(level)
    db = SQLiteDatabase(work / "growth-dashboard.sqlite")
    proj = DashboardProjection(db, Clock())
    store = StoreReader(Settings(data_dir=work))
    store.position = store.notification = level
    proj.apply(store.read(level, level + 10_000, 10_000))
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.execute("PRAGMA wal_autocheckpoint=0")
    proj.apply(store.read(proj.position(), level + 10_000 + batch, batch))
    size = db.query("PRAGMA page_size")[0][0]
    raw = (work / "growth-dashboard.sqlite-wal").read_bytes()
    seen, off = set(), 32
    while off + 24 <= len(raw):
        seen.add(struct.unpack(">I", raw[off:off + 4])[0])
        off += 24 + size
    store.close()
    db.close()
    return {"level": level, "batch": batch, "pages": len(seen), "pages_per_1000_events": round(1000 * len(seen) / batch, 1)}


for r in range(rounds):
    for level in levels:
        for batch in batches:
            if pages_mode:
                print(json.dumps(pages(level, batch)), flush=True)
                continue
            work = fresh(level)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = subprocess.run([sys.executable, "-m", "bench.growth", "fold", str(work), str(level), "50000", str(batch)],
                                 check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            figures = json.loads(out)
            # user / sys of the whole stage process, its start-up and imports included (cpu_us is the fold's alone)
            figures["user_us"] = 1e6 * (after.ru_utime - before.ru_utime) / 50_000
            figures["sys_us"] = 1e6 * (after.ru_stime - before.ru_stime) / 50_000
            print(json.dumps({"round": r, "level": level, "batch": batch, **{k: round(v, 2) for k, v in figures.items()}}), flush=True)
