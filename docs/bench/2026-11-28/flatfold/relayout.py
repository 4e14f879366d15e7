"""Experiment only: the counter tables with their period (day/month) first in the key."""
import re, shutil, sqlite3, sys
from pathlib import Path
src, dst = Path(sys.argv[1]), Path(sys.argv[2]); dst.mkdir(exist_ok=True)
shutil.copy(src / "growth-dashboard.sqlite", dst / "growth-dashboard.sqlite")
c = sqlite3.connect(dst / "growth-dashboard.sqlite", isolation_level=None)
c.execute("PRAGMA journal_mode=OFF"); c.execute("PRAGMA cache_size=-262144")
for name, sql in c.execute("SELECT name, sql FROM sqlite_master WHERE type='table' AND (name LIKE '%daily' OR name LIKE '%monthly' OR name IN ('ticket_flow','ticket_hist'))").fetchall():
    m = re.search(r"PRIMARY KEY \(([^)]*)\)", sql)
    keys = [k.strip() for k in m.group(1).split(",")]
    period = "day" if "day" in keys else "month"
    new_keys = [period] + [k for k in keys if k != period]
    new_sql = sql.replace(m.group(0), f"PRIMARY KEY ({', '.join(new_keys)})").replace(f"TABLE {name}", f"TABLE {name}_x", 1).replace("IF NOT EXISTS ", "")
    c.execute("BEGIN"); c.execute(new_sql)
    c.execute(f"INSERT INTO {name}_x SELECT * FROM {name} ORDER BY {', '.join(new_keys)}")
    c.execute(f"DROP TABLE {name}"); c.execute(f"ALTER TABLE {name}_x RENAME TO {name}"); c.execute("COMMIT")
    print(name, new_keys, flush=True)
c.execute("VACUUM"); c.close()
