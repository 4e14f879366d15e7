#!/bin/bash
# Fold A/B: the same 50,000 events (ledger positions 150,001..200,000 of the base run's store) into
# copies of the same read model (the 100k level's, upgraded once by the new create_schema), by
# main's code at df112e8 (no totals written) and this branch's, alternating; CPU per event.
set -e
PY=/work/wt/growth/.venv/bin/python
SRC=/tmp/fd/rm-100k-upgraded.sqlite
if [ ! -e $SRC ]; then
  cp /tmp/fd/keep-base/rm-100000.sqlite $SRC
  (cd /work/wt/growth && $PY -c "from projections.dashboard import create_schema; from projections.store import SQLiteDatabase; from pathlib import Path; d=SQLiteDatabase(Path('$SRC')); create_schema(d); d.close()")
fi
cd /tmp/fd
for round in 1 2 3; do
  for side in base new; do
    d=/tmp/fd/fold-$side; rm -rf $d; mkdir -p $d
    ln -s /tmp/fd-root-base/data/ledger.sqlite $d/ledger.sqlite
    cp $SRC $d/growth-dashboard.sqlite
    if [ $side = base ]; then export PYTHONPATH=/tmp/fd-basecode; else unset PYTHONPATH; fi
    echo "$side round $round $(uptime | sed 's/.*load/load/')  $($PY -m bench.growth fold $d 150000 50000 1000)"
  done
done
