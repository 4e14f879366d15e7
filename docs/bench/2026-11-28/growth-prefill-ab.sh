#!/bin/bash
# A/B of the growth pre-fill at N events: before (main 34ffdee: bulk writer in transactions of 5,000,
# then the fold in windows of 50,000, one after the other) and after (wt-growth: writer in
# transactions of 20,000, the fold in windows of 5,000 beside it). Wall and CPU (user+sys) per stage.
N=$1; ROUNDS=$2; shift 2
T="/usr/bin/time -f cpu=%U+%S"
for r in $(seq 1 $ROUNDS); do
 for side in "$@"; do
  d=/tmp/gab/$side-$r; rm -rf $d; mkdir -p $d/data
  echo "== $side round $r N=$N $(date -u +%H:%M:%S) load: $(cut -d' ' -f1-3 /proc/loadavg)"
  if [ $side = before ]; then
    cd /work/wt/growth-before
    t0=$(date +%s.%N)
    $T .venv/bin/python -m civic.growth history $d/data 0 $N 5000
    t1=$(date +%s.%N)
    $T .venv/bin/python -m bench.growth fold $d/data 0 $N 50000
    t2=$(date +%s.%N)
    echo "before: store $(echo "$t1-$t0"|bc) s, fold $(echo "$t2-$t1"|bc) s, pre-fill $(echo "$t2-$t0"|bc) s"
  else
    cd /work/wt/growth
    .venv/bin/python -m civic.growth create $d/data >/dev/null
    t0=$(date +%s.%N)
    $T .venv/bin/python -m civic.growth history $d/data 0 $N 20000 &
    $T .venv/bin/python -m bench.growth fold $d/data 0 $N 5000 follow
    wait
    t2=$(date +%s.%N)
    echo "after: pre-fill $(echo "$t2-$t0"|bc) s"
  fi
  echo "   load after: $(cut -d' ' -f1-3 /proc/loadavg)"
 done
done
