"""The event index's cost per event against history, for several segment sizes (SEGMENT_BITS).

For each history level and segment size: an index holding `level` events (uuid ids, as producers
make them; subjects as the district's), written untimed; then the live indexer's own
`EventIndex.apply` over the next 50,000 positions, a batch of 1,000 intake messages then the same
ledger messages per transaction, as bench/growth.py `index` does, on the live settings; CPU per
event. Then 2,000 look-ups by id (`event_index.verdict`'s `_first` on both tables) of ids spread
over the history: CPU per look-up.

    python docs/bench/2026-11-29/segments/seg_exp.py DIR 100000,1000000,5000000 19,17,16
"""
import json
import random
import sqlite3
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from nats.aio.msg import Msg

from projections import event_index
from projections.store import SQLiteDatabase
from schemas import topology

WINDOW, BATCH = 50_000, 1_000
SUBJECT = "civic.{stage}.TicketDispatched.yn.yn-pm.yn-pm-lx.yn-pm-lx-g{g:02d}"


def eid(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"civic-seg-exp/{n}"))


def prefill(path: Path, level: int, bits: int) -> None:
    db = SQLiteDatabase(path)
    event_index.create_schema(db)
    db.close()
    c = sqlite3.connect(path)
    c.execute("PRAGMA synchronous=OFF")
    c.execute("PRAGMA cache_size=-4194304")
    for table, stage in (("intake", "intake"), ("accepted", "ledger")):
        order = event_index.SEGMENTED[table][0]
        rows = sorted(((n >> bits, eid(n), n, SUBJECT.format(stage=stage, g=n % 40)) for n in range(1, level + 1)))
        c.executemany(f"INSERT INTO {table} (segment, event_id, {order}, subject) VALUES (?, ?, ?, ?)", rows)
    c.executemany("INSERT INTO tracking VALUES (?, ?)", [(topology.INTAKE, level), (topology.LEDGER, level)])
    c.commit()
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    c.close()


def message(stream: str, subject: str, sequence: int, headers: dict[str, str]) -> Msg:
    pair = Msg.Metadata.SequencePair(consumer=sequence, stream=sequence)
    return Msg(None, subject=subject, headers=headers,  # type: ignore[arg-type]
               _metadata=Msg.Metadata(sequence=pair, num_pending=0, num_delivered=1,
                                      timestamp=datetime.now(timezone.utc), stream=topology.INTAKE, consumer="x"))


def window(path: Path, level: int) -> float:
    db = SQLiteDatabase(path)
    indexed = event_index.EventIndex(db)
    cpu = 0.0
    for first in range(level + 1, level + WINDOW + 1, BATCH):
        ns = range(first, first + BATCH)
        intake = [message(topology.INTAKE, SUBJECT.format(stage="intake", g=n % 40), n, {"Nats-Msg-Id": eid(n)}) for n in ns]
        ledger = [message(topology.LEDGER, SUBJECT.format(stage="ledger", g=n % 40), n, {topology.EVENT_ID_HEADER: eid(n)}) for n in ns]
        t = time.process_time()
        indexed.apply(topology.INTAKE, intake)
        indexed.apply(topology.LEDGER, ledger)
        cpu += time.process_time() - t
    db.close()
    return 1e6 * cpu / WINDOW


def lookups(path: Path, level: int) -> float:
    db = SQLiteDatabase(path)
    ids = [eid(random.randint(1, level)) for _ in range(2_000)]
    t = time.process_time()
    for i in ids:
        assert event_index._first(db, "accepted", i) and event_index._first(db, "intake", i)
    spent = time.process_time() - t
    db.close()
    return 1e6 * spent / len(ids)


def main() -> None:
    root = Path(sys.argv[1])
    levels = [int(x) for x in sys.argv[2].split(",")]
    sizes = [int(x) for x in sys.argv[3].split(",")]
    root.mkdir(parents=True, exist_ok=True)
    for level in levels:
        for bits in sizes:
            event_index.SEGMENT_BITS = bits
            path = root / f"index-{level}-{bits}.sqlite"
            if not path.exists():
                prefill(path, level, bits)
            work = root / "work.sqlite"
            for suffix in ("", "-wal", "-shm"):
                Path(str(work) + suffix).unlink(missing_ok=True)
            work.write_bytes(path.read_bytes())
            print(json.dumps({"level": level, "bits": bits, "segment_rows": 1 << bits,
                              "insert_cpu_us": round(window(work, level), 1),
                              "lookup_cpu_us": round(lookups(work, level + WINDOW), 1)}), flush=True)


if __name__ == "__main__":
    main()
