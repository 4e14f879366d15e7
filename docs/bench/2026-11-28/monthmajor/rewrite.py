"""How long the projector's start takes to rewrite a read model keyed unit first (create_schema ->
projections/layout.py bring_up_to_date), on a copy of the 1M read model in the old layout
(dashboard_ab.py's unit-first copy). Usage: .venv/bin/python rewrite.py FILE"""
import logging
import resource
import sys
import time
from pathlib import Path

from projections.dashboard import create_schema
from projections.store import SQLiteDatabase

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
db = SQLiteDatabase(Path(sys.argv[1]))
began, cpu = time.perf_counter(), time.process_time()
create_schema(db)
print(f"rewritten in {time.perf_counter() - began:.1f} s wall, {time.process_time() - cpu:.1f} s CPU, "
      f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", flush=True)
began = time.perf_counter()
create_schema(db)
print(f"opened again in {time.perf_counter() - began:.3f} s", flush=True)
