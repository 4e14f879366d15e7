#!/bin/sh
# pages.py over the whole 50k window at each level, main's code (BASE on PYTHONPATH) and this branch's.
# usage: pages_ab.sh BASE DATA_ROOT LEVELS...
base=$1; root=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd); py=$(pwd)/.venv/bin/python
for level in "$@"; do
  echo "## main"; (cd /tmp && PYTHONPATH=$base nice $py "$here/pages.py" "$root/data" "$root/snap-$level" "$level")
  echo "## branch"; nice $py "$here/pages.py" "$root/data" "$root/snap-$level" "$level"
done
