import sys, time
from datetime import date, timedelta
from pathlib import Path
from projections.facts import Clock
from projections.queries import DashboardQueries
from projections.store import SQLiteDatabase
db = SQLiteDatabase(Path(sys.argv[1]) / "growth-dashboard.sqlite", readonly=True)
real = db.query
spent = [0.0]
def timed(sql, params=()):
    b = time.perf_counter(); r = real(sql, params); spent[0] += time.perf_counter() - b; return r
db.query = timed
q = DashboardQueries(db, Clock())
last = date.fromisoformat(sys.argv[2])
tot = []; qs = []
for _ in range(200):
    spent[0] = 0; b = time.perf_counter()
    q.dashboard("d", last - timedelta(days=29), last)
    tot.append(time.perf_counter() - b); qs.append(spent[0])
tot.sort(); qs.sort()
print(f"total p50 {tot[100]*1000:.3f} ms, p10 {tot[20]*1000:.3f}; queries p50 {qs[100]*1000:.3f} p10 {qs[20]*1000:.3f}")
