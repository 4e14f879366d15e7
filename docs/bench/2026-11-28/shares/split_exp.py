"""Prototype (not product code): a rebuild's fold split by aggregate over P processes, each folding
its share of the ledger into a file of its own, then the files merged (counters added, rows copied).
Compared with one process folding all of it, with the same reader. Checks the merged read model
equals the single one, table by table."""
import os, sqlite3, sys, time
from multiprocessing import Process
from pathlib import Path

from projections.dashboard import COUNTER_TABLES, DashboardProjection, create_schema
from projections.facts import Clock
from projections.store import SQLiteDatabase
from schemas import decode

LEDGER = "/tmp/s8ff/data/ledger.sqlite"
OUT = Path("/tmp/s8ff/split")
BATCH = 5000


def fresh(path: Path) -> None:
    for s in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{s}").unlink(missing_ok=True)


def part(k: int, parts: int, out: Path, end: int) -> None:
    fresh(out)
    db = SQLiteDatabase(out, building=True)
    create_schema(db)
    projection = DashboardProjection(db, Clock())
    src = sqlite3.connect(f"file:{LEDGER}?mode=ro", uri=True)
    after, cpu = 0, time.process_time()
    while after < end:
        rows = src.execute("SELECT rowid, originator_id, topic, state FROM stored_events WHERE rowid > ? ORDER BY rowid LIMIT ?",
                           (after, BATCH)).fetchall()
        if not rows:
            break
        after = rows[-1][0]
        todo = [(p, decode(state, max_bytes=None)) for p, oid, topic, state in rows
                if parts == 1 or topic == "OrgUnitRegistered" or int(oid[:8], 16) % parts == k]
        if todo:
            projection.apply(todo)
    if projection.position() != end:  # a share that did not end on the last event: its position is the ledger's
        db.execute("UPDATE tracking SET position = ?", (end,))
    db.built()
    db.close()
    print(f"part {k}/{parts}: {time.process_time() - cpu:.1f} s CPU", flush=True)


def merge(into: Path, others: list[Path]) -> None:
    c = sqlite3.connect(into, isolation_level=None)
    c.execute("PRAGMA journal_mode=OFF"); c.execute("PRAGMA synchronous=OFF"); c.execute("PRAGMA cache_size=-65536")
    counters = {t.name for t in COUNTER_TABLES} | {"ticket_flow_total", "deadline_overdue", "deadline_daily", "deadline_unit_monthly"}
    c.execute("BEGIN")
    for i, other in enumerate(others):
        c.execute(f"ATTACH '{other}' AS p{i}")
        for (t,) in c.execute(f"SELECT name FROM p{i}.sqlite_master WHERE type='table'").fetchall():
            info = c.execute(f"PRAGMA p{i}.table_info({t})").fetchall()
            keys = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]]
            cols = [r[1] for r in info]
            if t in counters:
                add = [x for x in cols if x not in keys and x not in ("first_day", "last_day")]
                sets = ", ".join(f"{x} = {t}.{x} + excluded.{x}" for x in add)
                if t == "ticket_flow_total":
                    sets += ", first_day = min(first_day, excluded.first_day), last_day = max(last_day, excluded.last_day)"
                c.execute(f"INSERT INTO main.{t} SELECT * FROM p{i}.{t} WHERE true ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {sets}")
            else:
                c.execute(f"INSERT OR IGNORE INTO main.{t} SELECT * FROM p{i}.{t}")
    c.execute("COMMIT")
    c.execute("PRAGMA journal_mode=WAL")
    c.close()


def content(path: Path) -> dict[str, list]:
    c = sqlite3.connect(path)
    out = {}
    for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall():
        out[t] = sorted(c.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
    return out


if __name__ == "__main__":
    parts, end = int(sys.argv[1]), int(sys.argv[2])
    OUT.mkdir(parents=True, exist_ok=True)
    files = [OUT / f"p{parts}-{k}.sqlite" for k in range(parts)]
    wall = time.perf_counter()
    procs = [Process(target=part, args=(k, parts, files[k], end)) for k in range(parts)]
    for p in procs: p.start()
    for p in procs: p.join()
    folded = time.perf_counter() - wall
    if parts > 1:
        t0 = time.perf_counter(); merge(files[0], files[1:]); merged = time.perf_counter() - t0
    else:
        merged = 0.0
    wall = time.perf_counter() - wall
    print(f"{parts} part(s), {end:,} events: folded in {folded:.1f} s, merged in {merged:.1f} s: {end / wall:,.0f} events/s", flush=True)
    if parts > 1 and "check" in sys.argv:
        single, merged_c = content(OUT / "p1-0.sqlite"), content(files[0])
        bad = [t for t in single if single[t] != merged_c.get(t)]
        print("merged == single:", not bad, bad[:5])
