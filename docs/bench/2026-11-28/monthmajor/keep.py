"""`civic bench --growth` as the CLI runs it (bench/growth.py run), but in a directory that is kept
afterwards, so the read model it leaves can be read again (dashboard_ab.py).
Usage: .venv/bin/python keep.py ROOT OUT LEVELS"""
import sys
from pathlib import Path

from bench.growth import WINDOW, run

root, out, levels = Path(sys.argv[1]), Path(sys.argv[2]), tuple(int(n) for n in sys.argv[3].split(","))
run(out, [sys.executable, "-m", "civic.growth"], root, levels, min(WINDOW, levels[0] // 2))
