cd /work/wt/perf
P=.venv/bin/python
A=/tmp/perfw/gA; rm -rf $A; mkdir -p $A
$P -m civic.growth history $A 0 100000 5000 > /dev/null
$P -m bench.growth fold $A 0 100000 50000 > /dev/null
echo "ledger100k $($P -m civic.growth window $A 100000 50000 1000)"
echo "fold100k $($P -m bench.growth fold $A 100000 50000 1000)"
echo "dash100k $($P -m bench.growth dashboard $A)"
B=/tmp/civic-growth-xaw5b7iu/data
echo "ledger5M $($P -m civic.growth window $B 5055000 50000 1000)"
echo "fold1M $($P -m bench.growth fold $B 1050000 50000 1000)"
echo "dash1M $($P -m bench.growth dashboard $B)"
echo "ledger100k-again $($P -m civic.growth window $A 150000 50000 1000)"
