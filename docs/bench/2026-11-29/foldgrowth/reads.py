"""The reads that use the tickets' indexes, timed on a copy of a level's read model (after its window:
DATA/growth-dashboard.sqlite), opened by this code's create_schema first (the projector's start):
the workload and the ticket lists (page 1, all and open) of the district, a town and a grid, and the
district's dashboard (30 days) and deadline board (30 days). p50 / p99 ms over REPEAT reads.
usage: reads.py DATA [REPEAT]"""
import json, os, shutil, sys, time
from datetime import date, timedelta
from pathlib import Path

from projections.dashboard import create_schema
from projections.deadline_queries import DeadlineQueries
from projections.facts import Clock
from projections.queries import DashboardQueries, TicketQueries
from projections.store import SQLiteDatabase

data = Path(sys.argv[1]); repeat = int(sys.argv[2]) if len(sys.argv) > 2 else 20
model = data / f"reads-{os.getpid()}.sqlite"
shutil.copy(data / "growth-dashboard.sqlite", model)
try:
    writer = SQLiteDatabase(model); create_schema(writer); writer.close()
    db = SQLiteDatabase(model, readonly=True)
    clock = Clock(); boards, tickets, deadline = DashboardQueries(db, clock), TicketQueries(db, clock), DeadlineQueries(db, clock)
    last = date.fromisoformat(db.query("SELECT MAX(day) FROM ticket_daily WHERE month = (SELECT MAX(month) FROM ticket_daily) AND prefix = 'd.'")[0][0])
    now = clock.start_of(last + timedelta(days=1))
    town = db.query("SELECT org_id FROM orgs WHERE kind = 'town' ORDER BY org_id LIMIT 1")[0][0]
    grid = db.query("SELECT org_id FROM orgs WHERE kind = 'grid' ORDER BY org_id LIMIT 1")[0][0]
    reads = {}
    for org in ("d", town, grid):
        prefixes = boards.prefixes(org)
        reads[f"workload {org}"] = lambda p=prefixes: tickets.workload(p, now)
        reads[f"tickets all {org}"] = lambda p=prefixes: tickets.tickets(p, "all", None, 1, 20, now)
        reads[f"tickets open {org}"] = lambda p=prefixes: tickets.tickets(p, "open", None, 1, 20, now)
    reads["dashboard d 30 days"] = lambda: boards.dashboard("d", last - timedelta(days=29), last)
    reads["deadline board d 30 days"] = lambda: deadline.board("d", last - timedelta(days=29), last)
    out = {}
    for name, read in reads.items():
        times = []
        for _ in range(repeat):
            began = time.perf_counter(); read(); times.append(1000 * (time.perf_counter() - began))
        times.sort()
        out[name] = (round(times[len(times) // 2], 2), round(times[int(0.99 * (len(times) - 1))], 2))
    print(json.dumps(out))
    db.close()
finally:
    for s in ("", "-wal", "-shm"):
        Path(str(model) + s).unlink(missing_ok=True)
