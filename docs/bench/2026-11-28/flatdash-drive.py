"""Run bench.growth.run for the given levels, keeping a copy of each level's read model and the
event store's size (the copies are taken right after each level's dashboard stage)."""
import sqlite3
import sys
from pathlib import Path

import bench.growth as g

out, root, levels = Path(sys.argv[1]), Path(sys.argv[2]), tuple(int(x) for x in sys.argv[3].split(","))
keep = Path(sys.argv[4])
keep.mkdir(parents=True, exist_ok=True)
real = g.stage
done = iter(levels)


def stage(command):
    figures = real(command)
    if command[3] == "dashboard":
        level = next(done)
        src = sqlite3.connect(f"file:{command[4]}/growth-dashboard.sqlite?mode=ro", uri=True)
        dst = sqlite3.connect(keep / f"rm-{level}.sqlite")
        src.backup(dst)
        dst.close(); src.close()
        print(f"kept the read model of {level:,}", file=sys.stderr, flush=True)
    return figures


g.stage = stage
print(g.__file__, file=sys.stderr)
g.run(out, [sys.executable, "-m", "civic.growth"], root, levels, min(g.WINDOW, levels[0] // 2))
