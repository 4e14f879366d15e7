"""Experiment only: the district dashboard (bench.growth dashboard) on a month-major read model,
its counter queries given the window's months (month IN (...)) as a read side would."""
import re, sys, json
from pathlib import Path
import projections.store as st
DAY = {"ticket_daily", "ticket_flow", "ticket_hist", "dispute_daily", "topic_daily", "deadline_daily"}
MONTH = {"ticket_monthly", "ticket_flow_monthly", "ticket_hist_monthly", "dispute_monthly", "topic_monthly", "deadline_unit_monthly"}
FIRST = "2025-01"
def months(a, b):
    y, m = int(a[:4]), int(a[5:7]); out = []
    while f"{y:04d}-{m:02d}" <= b[:7]:
        out.append(f"{y:04d}-{m:02d}"); m += 1
        if m == 13: y, m = y + 1, 1
    return out
orig = st.SQLiteDatabase.query
def query(self, sql, params=()):
    m = re.search(r"FROM (\w+) WHERE", sql)
    if m and (m.group(1) in DAY or m.group(1) in MONTH) and sql.count("?") == len(params) and len(params) >= 2:
        params = list(params); a, b = params[-2], params[-1]
        if m.group(1) in DAY and " AND day >= ? AND day <= ?" in sql:
            ms = months(max(a[:7], FIRST), b)
            sql = sql.replace(" AND day >= ? AND day <= ?", f" AND month IN ({', '.join('?' * len(ms))}) AND day >= ? AND day <= ?")
            params = params[:-2] + ms + [a, b]
        elif m.group(1) in MONTH and " AND month >= ? AND month <= ?" in sql:
            ms = months(max(a, FIRST), b)
            sql = sql.replace(" AND month >= ? AND month <= ?", f" AND month IN ({', '.join('?' * len(ms))})")
            params = params[:-2] + ms
    return orig(self, sql, params)
st.SQLiteDatabase.query = query
from bench import growth
print(json.dumps(growth.dashboard(Path(sys.argv[1]))))
