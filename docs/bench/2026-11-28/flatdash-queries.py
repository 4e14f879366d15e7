"""Time each query of the district dashboard (last 30 days, uncached) on a read model, one by one,
interleaved round by round; old = open/overdue summed from the beginning (month rows + days), as on
main at df112e8; new = projections/queries.py `_stocks` (running totals less the rows after)."""
import json
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from projections.dashboard import create_schema
from projections.facts import DISPUTE_COUNTERS, FLOW_COUNTERS, TICKET_COUNTERS, TOPIC_COUNTERS, Clock
from projections.queries import DashboardQueries
from projections.store import SQLiteDatabase

src, repeat = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 200
work = Path("/tmp/flatdash-work.sqlite")
if not (len(sys.argv) > 3 and sys.argv[3] == "inplace"):
    shutil.copy(src, work)
    src = work
db = SQLiteDatabase(src)
began = time.perf_counter()
create_schema(db)  # an older read model gets its flow totals from its day rows here
upgrade_s = time.perf_counter() - began
db.close()
db = SQLiteDatabase(src, readonly=True)
q = DashboardQueries(db, Clock())
last = date.fromisoformat(db.query("SELECT MAX(day) FROM ticket_daily WHERE prefix='d.'")[0][0])
lo, hi = (last - timedelta(days=29)).isoformat(), last.isoformat()
P = q.prefixes("d")
month = "substr({period}, 1, 7)"
owner = dict(db.query("SELECT p.prefix, p.org_id FROM org_prefixes p JOIN orgs o ON o.org_id = p.org_id WHERE o.parent_id = ?", ("d",)))
O = list(owner)
old_stocks = lambda self, prefixes, hi, groups: self._sum("ticket_flow", FLOW_COUNTERS, prefixes, "", hi, groups)
new_stocks = DashboardQueries._stocks


def dash_old():
    DashboardQueries._stocks = old_stocks
    try:
        return q.dashboard("d", date.fromisoformat(lo), last)
    finally:
        DashboardQueries._stocks = new_stocks


items = {
    "org+prefixes": lambda: (q.org("d"), q.prefixes("d")),
    "counts ticket_daily (category, month)": lambda: q._sum("ticket_daily", TICKET_COUNTERS, P, lo, hi, ("category", month)),
    "stocks OLD ticket_flow from the beginning (category)": lambda: old_stocks(q, P, hi, ("category",)),
    "stocks NEW _stocks (category)": lambda: q._stocks(P, hi, ("category",)),
    "disputes (risk_grade, month)": lambda: q._sum("dispute_daily", DISPUTE_COUNTERS, P, lo, hi, ("risk_grade", month)),
    "hist (metric, bucket)": lambda: q._sum("ticket_hist", ("n",), P, lo, hi, ("metric", "bucket")),
    "topics": lambda: q._sum("topic_daily", TOPIC_COUNTERS, P, lo, hi, ()),
    "children: children() + owner": lambda: (q.children("d"), db.query("SELECT p.prefix, p.org_id FROM org_prefixes p JOIN orgs o ON o.org_id = p.org_id WHERE o.parent_id = ?", ("d",))),
    "children: counts ticket_daily (prefix)": lambda: q._sum("ticket_daily", TICKET_COUNTERS, O, lo, hi, ("prefix",)),
    "children: stocks OLD from the beginning (prefix)": lambda: old_stocks(q, O, hi, ("prefix",)),
    "children: stocks NEW _stocks (prefix)": lambda: q._stocks(O, hi, ("prefix",)),
    "children: disputes (prefix)": lambda: q._sum("dispute_daily", DISPUTE_COUNTERS, O, lo, hi, ("prefix",)),
    "position": lambda: q.position(),
    "WHOLE dashboard OLD": dash_old,
    "WHOLE dashboard NEW": lambda: q.dashboard("d", date.fromisoformat(lo), last),
}
assert dash_old() == q.dashboard("d", date.fromisoformat(lo), last)
times = {k: [] for k in items}
cpus = {k: [] for k in items}
for _ in range(repeat):
    for name, f in items.items():
        c, t = time.thread_time(), time.perf_counter()
        f()
        times[name].append((time.perf_counter() - t) * 1e6)
        cpus[name].append((time.thread_time() - c) * 1e6)
rows = {
    "flow month rows of d.": db.query("SELECT COUNT(*) FROM ticket_flow_monthly WHERE prefix='d.'")[0][0],
    "flow day rows of d. after hi": db.query("SELECT COUNT(*) FROM ticket_flow WHERE prefix='d.' AND day > ?", (hi,))[0][0],
    "flow total rows of d.": db.query("SELECT COUNT(*) FROM ticket_flow_total WHERE prefix='d.'")[0][0],
    "days of history": db.query("SELECT MIN(day), MAX(day) FROM ticket_daily WHERE prefix='d.'")[0],
}
print(f"{src.name}: window {lo}..{hi}, upgrade (create_schema) {upgrade_s:.2f} s, {json.dumps(rows)}")
for name, ts in times.items():
    ts.sort()
    cs = sorted(cpus[name])
    print(f"  {name:55s} wall p50 {ts[len(ts) // 2]:8.0f} p99 {ts[int(0.99 * (len(ts) - 1))]:8.0f} µs; CPU p50 {cs[len(cs) // 2]:8.0f} p99 {cs[int(0.99 * (len(cs) - 1))]:8.0f} µs")
