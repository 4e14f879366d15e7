"""Experiment only: each counter table T split into T_past (prefix-first, all but the last days)
and T_recent (prefix-first, the last days only), read through a view T = T_past UNION ALL
T_recent; the fold's upserts go to T_recent, rows older than a cutoff move to T_past in bulk.
usage: hotcold.py make SNAP OUT | hotcold.py fold DATA SNAPH START EVERY_DAYS"""
import re, shutil, sqlite3, sys, time, os, json
from pathlib import Path
TABLES = ["ticket_daily", "ticket_flow", "ticket_hist", "dispute_daily", "topic_daily", "ticket_monthly", "ticket_flow_monthly",
          "ticket_hist_monthly", "dispute_monthly", "topic_monthly", "deadline_daily", "deadline_unit_monthly"]
def shape(c, t):
    sql = c.execute("SELECT sql FROM sqlite_master WHERE name=?", (t + "_past",)).fetchone()[0]
    keys = [k.strip() for k in re.search(r"PRIMARY KEY \(([^)]*)\)", sql).group(1).split(",")]
    cols = [r[1] for r in c.execute(f"PRAGMA table_info({t}_past)")]
    return keys, [x for x in cols if x not in keys], cols
if sys.argv[1] == "make":
    src, dst = Path(sys.argv[2]), Path(sys.argv[3]); dst.mkdir(exist_ok=True)
    shutil.copy(src / "growth-dashboard.sqlite", dst / "growth-dashboard.sqlite")
    c = sqlite3.connect(dst / "growth-dashboard.sqlite", isolation_level=None)
    for t in TABLES:
        sql = c.execute("SELECT sql FROM sqlite_master WHERE name=?", (t,)).fetchone()[0]
        c.execute(f"ALTER TABLE {t} RENAME TO {t}_past")
        c.execute(re.sub(rf"TABLE \"?{t}\"? ", f"TABLE {t}_recent ", sql, count=1))
        c.execute(f"CREATE VIEW {t} AS SELECT * FROM {t}_past UNION ALL SELECT * FROM {t}_recent")
    c.close(); sys.exit()
data, snap, start, every = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
work = Path("/tmp/ff/exp")
for f in work.iterdir():
    if f.name.startswith("growth-dashboard") or f.is_symlink(): f.unlink()
for f in data.iterdir():
    if not f.name.startswith("growth-dashboard"): (work / f.name).symlink_to(f.resolve())
shutil.copy(snap / "growth-dashboard.sqlite", work / "growth-dashboard.sqlite")
import projections.dashboard as pd, projections.deadlines as dl
hot = lambda sql: re.sub(r"(INSERT INTO |= )(\w+)(\b)", lambda m: m.group(1) + m.group(2) + ("_recent" if m.group(2) in TABLES else "") + m.group(3), sql)
for mod, names in ((pd, ["UPSERT_DAILY", "UPSERT_FLOW", "UPSERT_HIST", "UPSERT_DISPUTE", "UPSERT_TOPIC"]), (dl, ["UPSERT_DAILY", "UPSERT_MONTHLY"])):
    for n in names: setattr(mod, n, hot(getattr(mod, n)))
pd.UPSERT_MONTHLY = {k: hot(v) for k, v in pd.UPSERT_MONTHLY.items()}
from projections.facts import Clock
from projections.rebuild import StoreReader
from projections.store import SQLiteDatabase
from config import Settings
db = SQLiteDatabase(work / "growth-dashboard.sqlite")
shapes = {t: shape(db.conn, t) for t in TABLES}
moves = {}
for t, (keys, counters, cols) in shapes.items():
    period = "day" if "day" in keys else "month"
    moves[t] = (period, f"INSERT INTO {t}_past SELECT * FROM {t}_recent WHERE {period} < ? ORDER BY {', '.join(keys)} "
                        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET " + ", ".join(f"{x} = {t}_past.{x} + excluded.{x}" for x in counters),
                f"DELETE FROM {t}_recent WHERE {period} < ?")
proj = pd.DashboardProjection(db, Clock()); clock = Clock()
store = StoreReader(Settings(data_dir=work)); store.position = store.notification = start
end = start + 50000; t0 = os.times(); last = None; nmoves = 0
while proj.position() < end:
    todo = store.read(proj.position(), end, 1000)
    proj.apply(todo)
    newest = int(todo[-1][1].occurred_at.timestamp())
    from datetime import date, timedelta
    today = date.fromisoformat(clock.day(newest))
    if last is None: last = today
    if (today - last).days >= every:
        cut_day = (today - timedelta(days=2)).isoformat(); cut_month = cut_day[:7]
        with db.transaction():
            for t, (period, ins, dele) in moves.items():
                cut = cut_day if period == "day" else cut_month
                db.execute(ins, (cut,)); db.execute(dele, (cut,))
        last = today; nmoves += 1
t1 = os.times(); store.close(); db.close()
print(json.dumps({"cpu_us": round(1e6 * (t1.user + t1.system - t0.user - t0.system) / 50000, 1), "user_us": round(1e6*(t1.user-t0.user)/50000,1), "sys_us": round(1e6*(t1.system-t0.system)/50000,1), "moves": nmoves}))
