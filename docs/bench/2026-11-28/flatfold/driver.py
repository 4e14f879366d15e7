"""Grow a growth-bench data dir level by level (as bench/growth.py run does), keeping a snapshot of
the read model before each measured window fold: /tmp/ff/data, /tmp/ff/snap-<level>/."""
import json, shutil, sqlite3, sys
from pathlib import Path
from bench.growth import side_by_side, stage, HISTORY_BATCH, HISTORY_FOLD_BATCH, LIVE_BATCH

py = sys.executable
led = [py, "-m", "civic.growth"]
me = [py, "-m", "bench.growth"]
data = Path(sys.argv[1]); levels = [int(x) for x in sys.argv[2].split(",")]
data.mkdir(parents=True, exist_ok=True)
state = data / "ff-state.json"
stored, folded = json.loads(state.read_text()) if state.exists() else (0, 0)
if not state.exists():
    stage([*led, "create", str(data)])
for history in levels:
    if history < stored: continue
    w = [[*led, "history", str(data), str(stored), str(history - stored), str(HISTORY_BATCH)]] if history > stored else []
    f = [[*me, "fold", str(data), str(folded), str(history - folded), str(HISTORY_FOLD_BATCH), "follow"]] if history > folded else []
    print("prefill", history, side_by_side(*w, *f), flush=True)
    stored = folded = history
    print("ledger", stage([*led, "window", str(data), str(stored), "50000", str(LIVE_BATCH)]), flush=True)
    stored += 50000
    c = sqlite3.connect(data / "growth-dashboard.sqlite"); c.execute("PRAGMA wal_checkpoint(TRUNCATE)"); c.close()
    snap = data.parent / f"snap-{history}"; snap.mkdir(exist_ok=True)
    shutil.copy(data / "growth-dashboard.sqlite", snap / "growth-dashboard.sqlite")
    print("fold", stage([*me, "fold", str(data), str(folded), str(stored - folded), str(LIVE_BATCH)]), flush=True)
    folded = stored
    print("dashboard", stage([*me, "dashboard", str(data)]), flush=True)
    state.write_text(json.dumps([stored, folded]))
