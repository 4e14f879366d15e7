"""The uncached district dashboard (bench/growth.py `dashboard`: the last 30 days, 100 times) on one
read model in both layouts: as this branch leaves it (month-major keys, read by this branch's code)
and the same rows turned back into the layout before (unit-first keys, no month column; read by
main's code, /work/main), interleaved, each in a fresh process.
Usage: .venv/bin/python dashboard_ab.py DATA_DIR ROUNDS"""
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from projections import deadlines
from projections.dashboard import COUNTER_TABLES

data, rounds = Path(sys.argv[1]), int(sys.argv[2])
old = data.parent / "unit-first"
old.mkdir(exist_ok=True)
model = "growth-dashboard.sqlite"
c = sqlite3.connect(data / model)
c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
shutil.copyfile(data / model, old / model)
c = sqlite3.connect(old / model, isolation_level=None)
c.execute("BEGIN")
for table in [*COUNTER_TABLES, *deadlines.COUNTER_TABLES]:  # as tests/unit/test_read_model_layout.py unit_first
    period = "day" if table.by_day else "month"
    key = ("prefix", period, *(k for k in table.keys if k not in ("prefix", period)))
    columns = ", ".join(f"{k} INTEGER" if k == "bucket" else f"{k} TEXT" for k in table.keys)
    counters = ", ".join(f"{n} INTEGER NOT NULL DEFAULT 0" for n in table.counters)
    names = ", ".join((*table.keys, *table.counters))
    c.execute(f"CREATE TABLE {table.name}_before ({columns}, {counters}, PRIMARY KEY ({', '.join(key)})) WITHOUT ROWID")
    c.execute(f"INSERT INTO {table.name}_before ({names}) SELECT {names} FROM {table.name} ORDER BY {', '.join(key)}")
    c.execute(f"DROP TABLE {table.name}")
    c.execute(f"ALTER TABLE {table.name}_before RENAME TO {table.name}")
c.execute("COMMIT")
c.execute("VACUUM")
c.close()
c = sqlite3.connect(data / model)
c.execute("VACUUM")  # both files freshly written, so neither reads a fragmented copy
c.close()
for i in range(rounds):
    for name, python, where, cwd in (("month-major", sys.executable, data, "."), ("unit-first", "/work/main/.venv/bin/python", old, "/work/main")):
        out = subprocess.run([python, "-m", "bench.growth", "dashboard", str(where)], capture_output=True, text=True, check=True, cwd=cwd)
        print(json.dumps({"round": i, "layout": name, **json.loads(out.stdout.strip().splitlines()[-1])}), flush=True)
