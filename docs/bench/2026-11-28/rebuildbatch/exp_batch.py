"""flatfold/exp.py with a --batch: one window fold on a fresh copy of a snapshot, per-statement timings, optional cProfile.
usage: exp_batch.py DATA SNAPDIR START [COUNT] [--batch N] [--cache KIB] [--profile OUT] [--page-size N]"""
import argparse, shutil, time, sys, os, json
from collections import defaultdict
from pathlib import Path
p = argparse.ArgumentParser()
p.add_argument("data"); p.add_argument("snap"); p.add_argument("start", type=int); p.add_argument("count", type=int, nargs="?", default=50000)
p.add_argument("--cache", type=int); p.add_argument("--profile"); p.add_argument("--keep", action="store_true"); p.add_argument("--pragma", action="append", default=[]); p.add_argument("--page-size", type=int); p.add_argument("--batch", type=int, default=1000)
a = p.parse_args()
work = Path("/tmp/rb/exp2"); work.mkdir(exist_ok=True)
for f in work.iterdir():
    if f.name.startswith("growth-dashboard"): f.unlink()
    elif f.is_symlink(): f.unlink()
for f in Path(a.data).iterdir():
    if not f.name.startswith("growth-dashboard") and not (work / f.name).exists():
        (work / f.name).symlink_to(f.resolve())
shutil.copy(Path(a.snap) / "growth-dashboard.sqlite", work / "growth-dashboard.sqlite")
import projections.store as st
if a.page_size:
    import sqlite3
    src = work / "growth-dashboard.sqlite"
    c = sqlite3.connect(src); c.execute("PRAGMA journal_mode=DELETE"); c.execute(f"PRAGMA page_size={a.page_size}"); c.execute("VACUUM"); c.close()
orig_init = st.SQLiteDatabase.__init__
def init(self, *args, **kw):
    orig_init(self, *args, **kw)
    for pr in a.pragma: self.conn.execute("PRAGMA " + pr)
st.SQLiteDatabase.__init__ = init
walsize = {}
orig_close = st.SQLiteDatabase.close
def close(self):
    w = work / "growth-dashboard.sqlite-wal"
    walsize["mb"] = w.stat().st_size / 2**20 if w.exists() else 0
    walsize["pages"] = self.conn.execute("PRAGMA page_count").fetchone()[0]
    orig_close(self)
st.SQLiteDatabase.close = close
if a.cache: st.WRITER_CACHE_KIB = a.cache
times = defaultdict(float); counts = defaultdict(int)
orig_em, orig_ex, orig_q = st.SQLiteDatabase.executemany, st.SQLiteDatabase.execute, st.SQLiteDatabase.query
def label(sql):
    w = sql.split()
    if w[0] == "INSERT": return "ins " + w[2]
    if w[0] == "SELECT": return "sel " + w[w.index("FROM") + 1] if "FROM" in w else "sel"
    return " ".join(w[:2])
def em(self, sql, rows):
    rows = list(rows); t = time.perf_counter(); orig_em(self, sql, rows); k = label(sql); times[k] += time.perf_counter() - t; counts[k] += len(rows)
def ex(self, sql, params=()):
    t = time.perf_counter(); orig_ex(self, sql, params); k = label(sql); times[k] += time.perf_counter() - t; counts[k] += 1
def q(self, sql, params=()):
    t = time.perf_counter(); r = orig_q(self, sql, params); k = label(sql); times[k] += time.perf_counter() - t; counts[k] += 1; return r
st.SQLiteDatabase.executemany, st.SQLiteDatabase.execute, st.SQLiteDatabase.query = em, ex, q
from bench import growth
import projections.dashboard as pdash
applies = []
orig_apply = pdash.DashboardProjection.apply
def apply(self, batch):
    t = time.perf_counter(); n = orig_apply(self, batch); applies.append(time.perf_counter() - t); return n
pdash.DashboardProjection.apply = apply
if a.profile:
    import cProfile
    pr = cProfile.Profile(); pr.enable()
t0 = os.times()
r = growth.fold(work, a.start, a.count, a.batch)
t1 = os.times()
if a.profile:
    pr.disable(); pr.dump_stats(a.profile)
r["user_us"] = 1e6 * (t1.user - t0.user) / a.count; r["sys_us"] = 1e6 * (t1.system - t0.system) / a.count
r.update(walsize)
applies.sort(); r["apply_ms"] = [round(1000*applies[int(q*(len(applies)-1))], 1) for q in (0.5, 0.9, 0.99, 1.0)]
print(json.dumps(r))
for k in sorted(times, key=times.get, reverse=True):
    print(f"{k:40s} {1e6*times[k]/a.count:8.1f} us/event  {counts[k]:9d} rows")
