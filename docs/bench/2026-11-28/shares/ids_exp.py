"""Micro-experiment: the ledger's event-id index, fat text key vs compact 64-bit hash key."""
import hashlib, os, sqlite3, sys, time, uuid

layout, total = sys.argv[1], int(sys.argv[2])
path = f"/tmp/ids_{layout}.sqlite"
for s in ("", "-wal", "-shm"):
    try: os.remove(path + s)
    except FileNotFoundError: pass
db = sqlite3.connect(path, isolation_level=None)
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=NORMAL"); db.execute("PRAGMA cache_size=-65536")
if layout == "fat":
    db.execute("CREATE TABLE ids (event_id TEXT PRIMARY KEY, fingerprint TEXT NOT NULL) WITHOUT ROWID")
else:
    db.execute("CREATE TABLE ids (h INTEGER NOT NULL, event_id TEXT NOT NULL, fingerprint TEXT NOT NULL)")
    db.execute("CREATE INDEX ids_h ON ids (h)")
ns = uuid.UUID(int=7)
def h(e): return int.from_bytes(hashlib.blake2b(e.encode(), digest_size=8).digest(), "big", signed=True)
fp = hashlib.sha256(b"x").hexdigest()
B = 500; n = 0; marks = {100_000, 1_000_000, 2_000_000, 3_000_000, 5_000_000}
t0 = time.process_time(); w0 = n
while n < total:
    ids = [str(uuid.uuid5(ns, str(n + i))) for i in range(B)]
    db.execute("BEGIN")
    if layout == "fat":
        db.execute(f"SELECT event_id, fingerprint FROM ids WHERE event_id IN ({','.join('?'*B)})", sorted(ids)).fetchall()
        db.executemany("INSERT INTO ids VALUES (?, ?)", [(e, fp) for e in ids])
    else:
        hs = [h(e) for e in ids]
        db.execute(f"SELECT event_id, fingerprint FROM ids WHERE h IN ({','.join('?'*B)})", sorted(hs)).fetchall()
        db.executemany("INSERT INTO ids VALUES (?, ?, ?)", [(x, e, fp) for x, e in zip(hs, ids)])
    db.execute("COMMIT")
    n += B
    if n % 100_000 == 0:
        cpu = time.process_time() - t0
        if n in marks or n % 500_000 == 0:
            print(f"{layout} {n:>9,}: {cpu / (n - w0) * 1e6:6.1f} µs/event (last 100k)", flush=True)
        t0 = time.process_time(); w0 = n
print(layout, os.path.getsize(path) // 2**20, "MiB")
