#!/bin/sh
# Three interleaved runs per level of cpu.py: main's code (BASE, a checkout of main on PYTHONPATH)
# and this branch's, on the same snapshots. usage: cpu_ab.sh BASE DATA_ROOT LEVELS...
base=$1; root=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd); py=$(pwd)/.venv/bin/python
for run in 1 2 3; do
  for level in "$@"; do
    (cd /tmp && PYTHONPATH=$base nice $py "$here/cpu.py" "$root/data" "$root/snap-$level" "$level")
    nice $py "$here/cpu.py" "$root/data" "$root/snap-$level" "$level"
    echo "# load $(cut -d' ' -f1-3 /proc/loadavg)"
  done
done
