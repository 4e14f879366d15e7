import sys, time
from datetime import date, timedelta
from pathlib import Path
from projections.facts import Clock
from projections.queries import DashboardQueries
from projections.store import SQLiteDatabase
data = Path(sys.argv[1])
db = SQLiteDatabase(data / "growth-dashboard.sqlite", readonly=True)
class Rec:
    def __init__(s, db): s.db, s.dialect, s.t = db, db.dialect, {}
    def query(s, sql, params=()):
        b = time.perf_counter(); r = s.db.query(sql, params); e = time.perf_counter() - b
        s.t.setdefault(sql[:200] + " " + str(list(params)[:4]), []).append((e, len(r)))
        return r
    def __getattr__(s, n): return getattr(s.db, n)
r = Rec(db)
q = DashboardQueries(r, Clock())
last = date.fromisoformat(sys.argv[2])
for _ in range(30):
    q.dashboard("d", last - timedelta(days=29), last)
for k, v in sorted(r.t.items(), key=lambda kv: -sorted(x[0] for x in kv[1])[len(kv[1])//2]):
    ts = sorted(x[0] for x in v)
    print(f"{ts[len(ts)//2]*1000:7.3f} ms  rows={v[0][1]}  n={len(v)}  {k}")
