"""A waiting producer's look-up (`event_index.known`) of 500 ids on the 5M indexes seg_exp.py left
(DIR/index-5000000-<bits>.sqlite): ids not in the index (each segment is searched), then 500 recent
ones (found in the newest segment), then the absent ones again (pages now cached).

    python docs/bench/2026-11-29/segments/known_exp.py DIR
"""
import sys
import time
import uuid

from projections import event_index
from projections.store import SQLiteDatabase


def main() -> None:
    for bits in (19, 17, 16):
        event_index.SEGMENT_BITS = bits
        db = SQLiteDatabase(f"{sys.argv[1]}/index-5000000-{bits}.sqlite")
        absent = [str(uuid.uuid4()) for _ in range(500)]
        recent = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"civic-seg-exp/{n}")) for n in range(4_999_000, 4_999_500)]
        for name, ids in (("absent", absent), ("recent", recent), ("absent", absent)):
            cpu, wall = time.process_time(), time.perf_counter()
            found = event_index.known(db, ids, [])
            print(bits, name, len(found.accepted),
                  f"cpu {1e3 * (time.process_time() - cpu):.1f} ms wall {1e3 * (time.perf_counter() - wall):.1f} ms", flush=True)
        db.close()


if __name__ == "__main__":
    main()
