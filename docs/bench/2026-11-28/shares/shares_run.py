"""A rebuild's fold of the growth data's ledger (1.05M events) in 1 or N shares, as rebuild() does it
(without NATS: `end` is the store's length): wall time, and CPU of this process and its children."""
import asyncio, resource, sys, time
from pathlib import Path
from config import Settings
from projections.dashboard import DashboardProjection, create_schema
from projections.facts import Clock
from projections.rebuild import REBUILD_BATCH, StoreReader, _fold_in_shares, fold_share
from projections.store import Versions

shares = int(sys.argv[1]); end = int(sys.argv[2]) if len(sys.argv) > 2 else 1_050_000
settings = Settings(data_dir=Path("/tmp/s8ff/data"))
versions = Versions("dashboard", Path("/tmp/s8ff/rb"))
version = versions.next_version() if __name__ == "__main__" else 0

async def main() -> None:
    store = StoreReader(settings)
    wall = time.perf_counter()
    with versions.building(version) as db:
        create_schema(db)
        projection = DashboardProjection(db, Clock())
        if shares == 1:
            await asyncio.to_thread(fold_share, projection, store, 0, 1, end, REBUILD_BATCH)
        else:
            await _fold_in_shares(settings, versions, version, projection, store, end, shares, REBUILD_BATCH, False)
        folded = time.perf_counter() - wall
    wall = time.perf_counter() - wall
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    print(f"{shares} share(s): {end / wall:,.0f} events/s ({wall:.1f} s; folded {folded:.1f} s), CPU {1e6 * cpu / end:.0f} µs/event "
          f"(this process {1e6 * (me.ru_utime + me.ru_stime) / end:.0f}, shares {1e6 * (kids.ru_utime + kids.ru_stime) / end:.0f}); "
          f"peak RSS this process {me.ru_maxrss / 1024:.0f} MB, the largest share {kids.ru_maxrss / 1024:.0f} MB")
    versions.drop(version)

if __name__ == "__main__":
    asyncio.run(main())
