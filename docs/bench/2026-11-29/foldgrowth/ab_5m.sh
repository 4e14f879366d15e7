#!/bin/sh
# At 5M: pages.py, then cpu.py three times interleaved, main's code on a copy of the snapshot with
# main's indexes (the 5M level was grown with the branch's code: snap-5000000-main is that snapshot
# with the open tickets' indexes dropped and main's create_schema run, tickets_unit/worker made).
# usage: ab_5m.sh BASE DATA_ROOT
base=$1; root=$2
here=$(cd "$(dirname "$0")" && pwd); py=$(pwd)/.venv/bin/python
echo "## main"; (cd /tmp && PYTHONPATH=$base nice $py "$here/pages.py" "$root/data" "$root/snap-5000000-main" 5000000)
echo "## branch"; nice $py "$here/pages.py" "$root/data" "$root/snap-5000000" 5000000
for run in 1 2 3; do
  (cd /tmp && PYTHONPATH=$base nice $py "$here/cpu.py" "$root/data" "$root/snap-5000000-main" 5000000)
  nice $py "$here/cpu.py" "$root/data" "$root/snap-5000000" 5000000
  echo "# load $(cut -d' ' -f1-3 /proc/loadavg)"
done
