"""A/B of the settings a version being built is written with: the growth bench's 50,000-event window
folded on a fresh copy of a level's read model (as flatfold/driver.py keeps them: SNAPS/snap-<level>/),
each fold in a process of its own (`bench.growth`'s own fold stage), the modes interleaved within a
round so the shared machine's load falls on all of them alike.
Modes: wal (today: journal_mode=WAL, synchronous=NORMAL), walo (WAL, synchronous=OFF: the replay's
scratch copy until now), memory (journal_mode=MEMORY, synchronous=OFF), off (journal_mode=OFF,
synchronous=OFF); a `+sorted` suffix sorts each executemany's rows by the table's primary key.
Each bulk mode ends as a built version would: back to WAL + NORMAL and the file fsynced (inside the
timed fold: growth.fold's db.close()).
usage: ab.py DATA SNAPS LEVELS BATCHES MODES ROUNDS   e.g. /tmp/bl/data /tmp/bl 100000,1000000 1000,5000 wal,memory,off 2
       ab.py --one WORK START BATCH MODE           (the child)"""
import json, os, re, resource, shutil, subprocess, sys
from pathlib import Path


def child(work: Path, start: int, batch: int, mode: str) -> None:
    import projections.store as st
    from bench import growth
    journal, _, order = mode.partition("+")
    init, close, em = st.SQLiteDatabase.__init__, st.SQLiteDatabase.close, st.SQLiteDatabase.executemany

    def opened(self, path, readonly=False, building=False):  # the window is folded into READ_MODEL: building stays False
        init(self, path, readonly)
        self.path = path
        if journal == "walo":
            self.conn.execute("PRAGMA synchronous=OFF")
        elif journal in ("memory", "off"):
            self.conn.execute(f"PRAGMA journal_mode={journal.upper()}")
            self.conn.execute("PRAGMA synchronous=OFF")

    def closed(self):
        if journal in ("memory", "off"):
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            fd = os.open(self.path, os.O_RDONLY)
            os.fsync(fd)
            os.close(fd)
        close(self)

    keys: dict[str, object] = {}

    def key_of(self, sql):
        if sql not in keys:
            m = re.match(r"\s*INSERT INTO (\w+)\s*(\(([^)]*)\))?", sql)
            keys[sql] = None
            if m:
                info = self.conn.execute(f"PRAGMA table_info({m.group(1)})").fetchall()
                cols = [c.strip() for c in m.group(3).split(",")] if m.group(3) else [c[1] for c in info]
                pk = [c[1] for c in sorted(info, key=lambda c: c[5]) if c[5]]
                if pk and all(c in cols for c in pk):
                    at = [cols.index(c) for c in pk]
                    keys[sql] = lambda row: tuple((row[i] is None, row[i]) for i in at)
        return keys[sql]

    def many(self, sql, rows):
        k = key_of(self, sql) if order == "sorted" else None
        em(self, sql, sorted(rows, key=k) if k else rows)

    st.SQLiteDatabase.__init__, st.SQLiteDatabase.close, st.SQLiteDatabase.executemany = opened, closed, many
    print(json.dumps(growth.fold(work, start, 50_000, batch)))


def fresh(data: Path, snaps: Path, level: int) -> Path:
    work = snaps / "exp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    for f in data.iterdir():
        if not f.name.startswith("growth-dashboard"):
            (work / f.name).symlink_to(f.resolve())
    shutil.copy(snaps / f"snap-{level}" / "growth-dashboard.sqlite", work / "growth-dashboard.sqlite")
    return work


if __name__ == "__main__":
    if sys.argv[1] == "--one":
        child(Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
        sys.exit()
    data, snaps = Path(sys.argv[1]), Path(sys.argv[2])
    levels, batches = [int(x) for x in sys.argv[3].split(",")], [int(x) for x in sys.argv[4].split(",")]
    modes, rounds = sys.argv[5].split(","), int(sys.argv[6])
    for r in range(rounds):
        for level in levels:
            for batch in batches:
                for mode in modes:
                    work = fresh(data, snaps, level)
                    before = resource.getrusage(resource.RUSAGE_CHILDREN)
                    out = subprocess.run([sys.executable, __file__, "--one", str(work), str(level), str(batch), mode],
                                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
                    after = resource.getrusage(resource.RUSAGE_CHILDREN)
                    figures = json.loads(out)
                    # user / sys of the whole stage process from rusage (start-up and imports included);
                    # cpu_us is the fold's alone (process_time, the closing fsync's CPU included)
                    figures["user_us"] = 1e6 * (after.ru_utime - before.ru_utime) / 50_000
                    figures["sys_us"] = 1e6 * (after.ru_stime - before.ru_stime) / 50_000
                    print(json.dumps({"round": r, "level": level, "batch": batch, "mode": mode,
                                      **{k: round(v, 2) for k, v in figures.items()}}), flush=True)
