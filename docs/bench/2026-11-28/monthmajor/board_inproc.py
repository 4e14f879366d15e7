import sys, time
from datetime import date
from pathlib import Path
from projections.facts import Clock
from projections.deadline_queries import DeadlineQueries
from projections.store import SQLiteDatabase
db = SQLiteDatabase(Path(sys.argv[1]) / "growth-dashboard.sqlite", readonly=True)
q = DeadlineQueries(db, Clock())
last = date.fromisoformat(sys.argv[2])
for start in (None, date(2025, 10, 19)):
    ts = []
    for _ in range(15):
        b = time.perf_counter(); a = q.board("d", start, last); ts.append(time.perf_counter() - b)
    ts.sort(); print(start, f"p50 {ts[7]*1000:.1f} ms", len(a.units))
