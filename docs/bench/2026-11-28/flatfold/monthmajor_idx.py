"""Experiment only: counter tables keyed month first: day tables (month, prefix, day, ...) with a
month column, month tables (month, prefix, ...). make SNAP OUT | fold DATA SNAPM START"""
import re, shutil, sqlite3, sys, os, json
from pathlib import Path
DAY = ["ticket_daily", "ticket_flow", "ticket_hist", "dispute_daily", "topic_daily", "deadline_daily"]
MONTH = ["ticket_monthly", "ticket_flow_monthly", "ticket_hist_monthly", "dispute_monthly", "topic_monthly", "deadline_unit_monthly"]
if sys.argv[1] == "make":
    src, dst = Path(sys.argv[2]), Path(sys.argv[3]); dst.mkdir(exist_ok=True)
    shutil.copy(src / "growth-dashboard.sqlite", dst / "growth-dashboard.sqlite")
    c = sqlite3.connect(dst / "growth-dashboard.sqlite", isolation_level=None)
    c.execute("PRAGMA journal_mode=OFF"); c.execute("PRAGMA cache_size=-262144")
    for t in DAY + MONTH:
        sql = c.execute("SELECT sql FROM sqlite_master WHERE name=?", (t,)).fetchone()[0]
        m = re.search(r"PRIMARY KEY \(([^)]*)\)", sql)
        keys = [k.strip() for k in m.group(1).split(",")]
        cols = [r[1] for r in c.execute(f"PRAGMA table_info({t})")]
        if t in DAY:
            new_keys = ["month", "prefix", "day"] + [k for k in keys if k not in ("prefix", "day")]
            sql = sql.replace("prefix TEXT,", "month TEXT, prefix TEXT,", 1)
            select = "substr(day, 1, 7), " + ", ".join(cols); target = "month, " + ", ".join(cols)
        else:
            new_keys = ["month", "prefix"] + [k for k in keys if k not in ("prefix", "month")]
            select = target = ", ".join(cols)
        sql = sql.replace(m.group(0), f"PRIMARY KEY ({', '.join(new_keys)})")
        sql = re.sub(rf"TABLE \"?{t}\"? ", f"TABLE {t}_x ", sql, count=1)
        c.execute("BEGIN"); c.execute(sql)
        c.execute(f"INSERT INTO {t}_x ({target}) SELECT {select} FROM {t} ORDER BY 1")
        c.execute(f"DROP TABLE {t}"); c.execute(f"ALTER TABLE {t}_x RENAME TO {t}"); c.execute("COMMIT")
        print(t, new_keys, flush=True)
    c.execute("VACUUM"); c.close(); sys.exit()
data, snap, start = Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
work = Path("/tmp/ff/exp")
for f in work.iterdir():
    if f.name.startswith("growth-dashboard") or f.is_symlink(): f.unlink()
for f in data.iterdir():
    if not f.name.startswith("growth-dashboard"): (work / f.name).symlink_to(f.resolve())
shutil.copy(snap / "growth-dashboard.sqlite", work / "growth-dashboard.sqlite")
import projections.dashboard as pd, projections.deadlines as dl
def with_month(sql):
    m = re.match(r"INSERT INTO (\w+) \(([^)]*)\) VALUES \(([^)]*)\) ON CONFLICT \(([^)]*)\)(.*)", sql)
    table, cols, _, target, rest = m.groups()
    cols = [x.strip() for x in cols.split(",")]
    vals = [f"?{i + 1}" for i in range(len(cols))] + [f"substr(?{cols.index('day') + 1}, 1, 7)"]
    return f"INSERT INTO {table} ({', '.join(cols)}, month) VALUES ({', '.join(vals)}) ON CONFLICT ({target}, month){rest}"
for mod, names in ((pd, ["UPSERT_DAILY", "UPSERT_FLOW", "UPSERT_HIST", "UPSERT_DISPUTE", "UPSERT_TOPIC"]), (dl, ["UPSERT_DAILY"])):
    for n in names: setattr(mod, n, with_month(getattr(mod, n)))
if os.environ.get("NO_UNIT_INDEXES"):
    drop = ("tickets_path", "tickets_unit", "tickets_worker", "deadline_tasks_due")
    o1, o2 = pd._ddl, dl.ddl
    pd._ddl = lambda d: [x for x in o1(d) if not any(f"INDEX IF NOT EXISTS {i} " in x for i in drop)]
    dl.ddl = lambda d: [x for x in o2(d) if not any(f"INDEX IF NOT EXISTS {i} " in x for i in drop)]
from bench import growth
t0 = os.times(); r = growth.fold(work, start, 50000, 1000); t1 = os.times()
r["user_us"] = round(1e6 * (t1.user - t0.user) / 50000, 1); r["sys_us"] = round(1e6 * (t1.system - t0.system) / 50000, 1)
print(json.dumps(r))
