"""Means of ab.py's rounds per level, batch and mode: CPU µs per event (the fold's; user / sys of
the whole process), peak RSS, and each mode against `wal` (today's settings) at the same level and batch.
usage: summary.py RAW..."""
import json, sys
from collections import defaultdict
rows = defaultdict(list)
for name in sys.argv[1:]:
    for line in open(name):
        if line.startswith("{"):
            r = json.loads(line)
            rows[(r["level"], r["batch"], r["mode"])].append(r)
mean = lambda xs: sum(xs) / len(xs)
print("| level | batch | mode | runs | fold CPU µs/event | user / sys µs | events/s (shared machine) | peak RSS MB | CPU vs wal |")
print("|---|---|---|---|---|---|---|---|---|")
for (level, batch, mode), rs in sorted(rows.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    cpu = mean([r["cpu_us"] for r in rs])
    base = mean([r["cpu_us"] for r in rows[(level, batch, "wal")]]) if (level, batch, "wal") in rows else cpu
    each = ", ".join("%.1f" % r["cpu_us"] for r in rs)
    user, sys_, rss = mean([r["user_us"] for r in rs]), mean([r["sys_us"] for r in rs]), max(r["rss_mb"] for r in rs)
    rate = mean([r["rate"] for r in rs])
    print(f"| {level:,} | {batch:,} | {mode} | {len(rs)} | {cpu:.1f} ({each}) | {user:.1f} / {sys_:.1f} | {rate:,.0f} | {rss:.0f} | {cpu / base:.2f} x |")
levels = sorted({k[0] for k in rows})
print()
for batch in sorted({k[1] for k in rows}):
    for mode in sorted({k[2] for k in rows}):
        got = [mean([r["cpu_us"] for r in rows[(l, batch, mode)]]) for l in levels if (l, batch, mode) in rows]
        if len(got) > 1:
            print(f"batch {batch:,} {mode}: " + " / ".join(f"{g:.1f}" for g in got) + f" µs at {' / '.join(f'{l:,}' for l in levels)}: last / first {got[-1] / got[0]:.2f} x")
