"""One line per run of live.py: the server's CPU per event beside its WAL, FPIs, checkpoints and buffers."""
import json
import sys
from pathlib import Path

print("| run | events/s | postgres CPU us/event | projector | ledger | WAL B/event | FPI/event | checkpoints (timed+req) "
      "| buffers written by checkpoints / backends per event | blocks read per event | autovacuum runs |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for path in sys.argv[1:]:
    r = json.loads(Path(path).read_text())
    cpu, pe, ck = r["cpu_us_per_event"], r["per_event"], r["checkpoints"]
    print(f"| {Path(path).stem} | {r['rate']:,.0f} | {cpu.get('postgres', 0):.1f} | {cpu['projector']:.1f} | {cpu['ledger']:.1f} "
          f"| {pe['wal_bytes']:,.0f} | {pe['wal_fpi']:.3f} | {ck['timed']}+{ck['requested']} "
          f"| {pe['buffers_checkpoint']:.3f} / {pe['buffers_backend']:.3f} | {pe['blks_read']:.3f} | {r['autovacuum_runs']} |")
