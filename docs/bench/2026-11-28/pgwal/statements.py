"""Two runs of live.py --statements side by side: each statement's executor time (us) and shared buffers hit per event."""
import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
def key(s): return s['query'][:70]
def m(r):
    out={}
    for s in r['statements']:
        k=key(s); out.setdefault(k,[0,0]); out[k][0]+=s['ms']*1000/r['events']; out[k][1]+=s['hit']/r['events']
    return out
ma,mb=m(a),m(b)
print(f"{'us/ev A':>8} {'us/ev B':>8} {'hit/ev A':>8} {'hit/ev B':>8}")
for k in sorted(set(ma)|set(mb), key=lambda k:-ma.get(k,[0])[0]):
    x=ma.get(k,[0,0]); y=mb.get(k,[0,0]); print(f"{x[0]:8.1f} {y[0]:8.1f} {x[1]:8.2f} {y[1]:8.2f} {k}")
print(f"{sum(v[0] for v in ma.values()):8.1f} {sum(v[0] for v in mb.values()):8.1f} total (top 30 each)")
