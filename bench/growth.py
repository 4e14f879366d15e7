"""`civic bench --growth`: does an event cost more when more came before it?

History grows to each level (100,000, 1,000,000, 5,000,000 events: the bench district's tickets
at a constant daily volume, about 3,100 events a day, so 5M events are four years and a half:
bench/district.py HISTORY_SPACING says why), then the
stages whose cost could depend on history are measured over the same fixed window of the next
50,000 events, each in a process of its own (its peak memory is the figure of that level):

* the ledger: check + commit in batches of 1,000, as the live ledger worker does, on an event
  store holding the history (its aggregate and event-id indexes hold every earlier event);
* the read model, twice over the same window, each into a read model holding the history, read
  from the event store as a rebuild reads it: in batches of 1,000 (LIVE_BATCH, the live projector's
  work: it commits what one pull brought), and in the batches a rebuild commits
  (projections/rebuild.py REBUILD_BATCH), on a copy of the read model as it was before the window,
  written as a rebuild writes its new version (no journal, no syncs, made durable at the end).
  The pages a batch writes (a counter row per unit on each item's path, per table) are spread over
  more events in the larger batch: the rebuild's costs less per event and grows more with history
  (docs/benchmarks.md "The rebuild's batch");
* the event index (projections/event_index.py), which the live projector keeps beside the read
  model, in the same process: each event's intake message (headers only) and its ledger message,
  a transaction per stream per batch of 1,000, into an index holding the history's rows. Its two
  tables are keyed by event id, which is a hash (uuid5): an insert lands on a random page, so
  unlike the read model's counters it cannot be keyed in the order events come;
* the district's dashboard for the last 30 days of the history, computed uncached on the read
  model holding it.

Every level's window begins on the first of a month (`window_from_a_month_start`): what a batch
writes into the month-major counter tables grows with the day of the month, so windows that fell
on other days of their months compared the months' phases as much as the histories' lengths. The
quiet spell before the window is why the dashboard is measured before it.

The history is written fast, untimed: straight into the store in transactions of 20,000 events
(civic/growth.py `history`: the ids, versions, sealed data and indexes the ledger would store,
proven equal in tests/integration/test_bench_growth.py), and folded into the read model in a
process of its own beside the writer, in windows of up to 5,000 events per transaction, as the
writer commits them (the two are independent: on 2 cores each has one). The district's events
are generated once in the whole run: each stage goes on from where the last one stopped
(`district`). The event index's history is written after each level's (`index ... history`: the
same rows, from the same store, in transactions of 20,000 with no syncs and a page cache that
holds it, because the live indexer's own settings would add 10 minutes to a 5M run). The NATS hops are not repeated here: streams append, so their cost per message
does not depend on what they hold; `civic bench` measures them.

The ledger application sits above bench/ in the layers, so its two stages are given by the
composition root (civic/cli.py passes `ledger_stage`, a command that runs them).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from bench.district import HISTORY_SPACING, START, Stream
from config import Settings
from projections.rebuild import REBUILD_BATCH

LEVELS = (100_000, 1_000_000, 5_000_000)
WINDOW = 50_000
HISTORY_BATCH = 20_000
# The history's fold commits every 5,000 events, as a rebuild does. Its cost per event no longer
# grows with the batch (it did while the deadline fold scanned the batch's tasks for each event,
# projections/deadlines.py `of`, now a per-ticket dict: 86-89 µs at 1,000, 97 at 5,000, 492 at
# 30,000). The window folded at 1,000 / 5,000 / 10,000 / 20,000 (CPU µs per event, two runs each,
# docs/bench/2026-11-28/rebuildbatch/): 100k 101 / 79 / 77 / 79, 1M 143 / 111 / 106 / 103,
# 5M 146 / 128 / 129 / 134: a batch of 5,000 saves the system time of pages written again in one
# commit (3,554 pages per batch of 1,000 at 100k; 7,440 per 5,000), and beyond it little is left
# to merge (a quiet unit's page is written once per batch it has an event in, whatever the batch's
# size) while the batch's pages outgrow the writer's 64 MiB cache (37,623 per 20,000 at 1M).
HISTORY_FOLD_BATCH = REBUILD_BATCH
LIVE_BATCH = 1_000
CURSOR = "growth-district.json"
READ_MODEL = "growth-dashboard.sqlite"
INDEX = "growth-events.sqlite"
"""The event index, in a file of its own as the projector keeps it (the `events` read model)."""
INDEX_HISTORY_CACHE_KIB = 4 * 1024 * 1024
"""The page cache of the index's untimed history writer: 4 GiB, more than the index at 5M holds
(about 2 GB), so its random inserts are memory work; the window's stage has the live setting."""
REBUILT = "growth-rebuilt.sqlite"
"""The copy of the read model, as it was before the window, that the rebuild's fold goes on from."""


@dataclass
class Level:
    history: int
    ledger_rate: float
    ledger_cpu_us: float
    ledger_rss_mb: float
    fold_rate: float  # the live projector's fold: batches of fold_batch
    fold_cpu_us: float
    fold_rss_mb: float
    fold_batch: int  # the largest batch the stage committed (measured, not the one asked for)
    rebuild_rate: float  # a rebuild's fold of the same window: batches of rebuild_batch
    rebuild_cpu_us: float
    rebuild_rss_mb: float
    rebuild_batch: int
    index_rate: float  # the event index over the same window: intake and ledger, batches of LIVE_BATCH
    index_cpu_us: float
    index_rss_mb: float
    dashboard_p50_ms: float
    dashboard_p99_ms: float
    prefill_s: float
    prefill_store_rate: float  # the history's bulk writer, events/s (0: nothing to write at this level)
    prefill_store_cpu_us: float
    prefill_fold_rate: float  # the history's fold beside it, events/s, its waits for the writer included
    prefill_fold_cpu_us: float


def district(data_dir: Path, start: int, count: int) -> Iterator[tuple[str, bytes]]:
    """Events start .. start+count-1 of the bench district, going on from where the last stage on
    `data_dir` stopped (its generator's state is kept beside the data): each event is made once in
    the whole run, not once per stage that needs the events after it."""
    cursor = data_dir / CURSOR
    if cursor.exists():
        stream = Stream.resume(json.loads(cursor.read_text()))
    else:  # a store grown without one (an older run's): made again up to `start`, once
        stream = Stream(spacing=HISTORY_SPACING)
        for _ in stream.take(start):
            pass
    if stream.count != start:
        raise RuntimeError(f"the district's events on {data_dir} go on at {stream.count}, not at {start}")
    yield from stream.take(count)
    _keep_cursor(data_dir, stream.state())


def _keep_cursor(data_dir: Path, state: dict) -> None:
    """The district's generator's state, kept beside the data (replaced whole, by rename)."""
    cursor = data_dir / CURSOR
    cursor.with_suffix(".tmp").write_text(json.dumps(state))
    cursor.with_suffix(".tmp").replace(cursor)


def window_from_a_month_start(data_dir: Path) -> None:
    """The district's next ticket arrives on the first of the next month (08:00, as START), after a
    quiet spell of less than a month: every level's window then covers the same days of a month.
    The counter tables are keyed month first (projections/layout.py), so what a batch writes grows
    with the day of the month, whatever the history (a batch of 1,000 writes about 1,340 pages on the
    3rd and 2,980 on the 20th: docs/bench/2026-11-29/foldgrowth/). Left to fall where the history
    ends, the 100k window covered 2-15 February, the 1M one 3-20 November and the 5M one 11-27 March:
    the runs before this compared a month's phase as much as a history's length."""
    state = json.loads((data_dir / CURSOR).read_text())
    clock = datetime.fromisoformat(state["clock"])
    state["clock"] = (clock.replace(day=1) + timedelta(days=32)).replace(day=1, hour=START.hour, minute=0, second=0, microsecond=0).isoformat()
    _keep_cursor(data_dir, state)


def stage(command: list[str]) -> dict[str, float]:
    """Run one stage in a process of its own; its last line of output is its figures (JSON)."""
    return side_by_side(command)[0]


def side_by_side(*commands: list[str]) -> list[dict[str, float]]:
    """Run stages at once, each in a process of its own; their figures (each one's last line of
    output, JSON), in order. If one fails, the others are stopped and its error raised."""
    with ExitStack() as files:
        outputs = [(files.enter_context(tempfile.TemporaryFile("w+")), files.enter_context(tempfile.TemporaryFile("w+")))
                   for _ in commands]
        running = [subprocess.Popen(c, stdout=out, stderr=err, text=True) for c, (out, err) in zip(commands, outputs)]
        try:
            while True:
                codes = [p.poll() for p in running]
                failed = next((i for i, code in enumerate(codes) if code), None)
                if failed is not None:
                    err = outputs[failed][1]
                    err.seek(0)
                    raise RuntimeError(f"{' '.join(commands[failed][:4])} failed:\n{err.read()[-3000:]}")
                if all(code == 0 for code in codes):
                    break
                time.sleep(0.1)
        finally:
            for process in running:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        figures = []
        for out, _ in outputs:
            out.seek(0)
            figures.append(json.loads(out.read().strip().splitlines()[-1]))
        return figures


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


# -- the read model's stages (run as `python -m bench.growth fold|dashboard DATA ...`) ------------


def fold(data_dir: Path, start: int, count: int, batch: int, follow: bool = False, model: str = READ_MODEL) -> dict[str, float]:
    """Fold ledger positions start+1 .. start+count from the event store into the read model
    (the file `model` in `data_dir`), committing every `batch` events.
    With `follow`, the history's writer runs beside this process: what it has not committed yet
    is waited for (the writer's failure stops this process: `side_by_side`)."""
    from projections.dashboard import DashboardProjection, create_schema
    from projections.facts import Clock
    from projections.rebuild import StoreReader
    from projections.store import SQLiteDatabase

    settings = Settings(data_dir=data_dir)
    # The rebuild's fold writes its copy as a rebuild writes its new version: as a version being
    # built, made durable at the end (inside the timed fold: its CPU and its wait are the rebuild's).
    rebuilding = model == REBUILT
    db = SQLiteDatabase(data_dir / model, building=rebuilding)
    create_schema(db)
    projection = DashboardProjection(db, Clock())
    assert projection.position() == start, f"the read model is at {projection.position()}, not {start}"
    store = StoreReader(settings)
    # Straight to `start`: the reader would otherwise read its way there, which is no folding work.
    # On SQLite the n-th notification is ledger position n (nothing is ever deleted).
    store.position = store.notification = start
    end, clock, cpu = start + count, time.perf_counter(), time.process_time()
    read = waited = 0.0
    largest = 0
    while projection.position() < end:
        began = time.perf_counter()
        todo = store.read(projection.position(), end, batch)
        read += time.perf_counter() - began
        if not todo:
            if not follow:
                raise RuntimeError(f"the event store ends at {projection.position()}, before {end}")
            # The writer commits in transactions of HISTORY_BATCH events, seconds apart: a poll
            # every 50 ms costs nothing beside them (SQLite has no change notification across processes).
            time.sleep(0.05)
            waited += 0.05
            continue
        projection.apply(todo)
        largest = max(largest, len(todo))
    if rebuilding:
        db.built()
    seconds = time.perf_counter() - clock
    store.close()
    db.close()
    return {"rate": count / seconds, "read_share": read / seconds, "waited_s": waited,
            "cpu_us": 1e6 * (time.process_time() - cpu) / count, "rss_mb": peak_rss_mb(), "batch": largest}


def index(data_dir: Path, start: int, count: int, batch: int, history: bool = False) -> dict[str, float]:
    """Index ledger positions start+1 .. start+count as the live projector's indexer does
    (projections/projector.py `EventIndexer`): for each batch, its intake messages (headers only,
    Nats-Msg-Id = the event id, as every producer sends) in one transaction, then its ledger
    messages (Civic-Event-Id) in another, through the indexer's own `EventIndex.apply`. The
    messages are made from the event store beforehand, outside the measured time: only the
    index's work is timed (the NATS hops are `civic bench`'s). In the bench nothing is refused,
    so an event's intake sequence is its ledger position.
    With `history`: the untimed pre-fill, in batches of `batch`, unsynced, with a page cache that
    holds the whole index (INDEX_HISTORY_CACHE_KIB)."""
    from datetime import datetime, timezone

    from nats.aio.msg import Msg

    from projections import event_index
    from projections.rebuild import StoreReader
    from projections.store import SQLiteDatabase
    from schemas import topology

    db = SQLiteDatabase(data_dir / INDEX)
    if history:
        db.execute("PRAGMA synchronous=OFF")  # a pre-fill: rerun on failure, never read as it is
        db.execute(f"PRAGMA cache_size=-{INDEX_HISTORY_CACHE_KIB}")
    event_index.create_schema(db)
    indexed = event_index.EventIndex(db)
    assert indexed.position(topology.LEDGER) == start, f"the index is at {indexed.position(topology.LEDGER)}, not {start}"
    store = StoreReader(Settings(data_dir=data_dir))
    store.position = store.notification = start  # as `fold`: on SQLite the n-th notification is position n
    now = datetime.now(timezone.utc)

    def message(stream: str, subject: str, sequence: int, headers: dict[str, str]) -> Msg:
        pair = Msg.Metadata.SequencePair(consumer=sequence, stream=sequence)
        return Msg(None, subject=subject, headers=headers,  # type: ignore[arg-type]  # never acked: no client
                   _metadata=Msg.Metadata(sequence=pair, num_pending=0, num_delivered=1, timestamp=now, stream=stream, consumer="index"))

    cpu = wall = 0.0
    position, end = start, start + count
    while position < end:
        events = store.read(position, end, batch)
        if not events:
            raise RuntimeError(f"the event store ends at {position}, before {end}")
        intake = [message(topology.INTAKE, topology.intake_subject(e, e.org_path), p, {"Nats-Msg-Id": e.event_id}) for p, e in events]
        ledger = [message(topology.LEDGER, topology.ledger_subject(e.type, e.org_path), p, {topology.EVENT_ID_HEADER: e.event_id})
                  for p, e in events]
        began, began_cpu = time.perf_counter(), time.process_time()
        indexed.apply(topology.INTAKE, intake)
        indexed.apply(topology.LEDGER, ledger)
        wall, cpu = wall + time.perf_counter() - began, cpu + time.process_time() - began_cpu
        position = events[-1][0]
    store.close()
    db.close()
    return {"rate": count / wall, "cpu_us": 1e6 * cpu / count, "rss_mb": peak_rss_mb()}


def copy_read_model(data_dir: Path, to: str = REBUILT) -> None:
    """The read model as it is now, to `to` beside it: its WAL checkpointed into the file first, so
    the file alone is the whole read model (no stage writes to it meanwhile: they run one by one)."""
    import shutil

    from projections.store import SQLiteDatabase

    db = SQLiteDatabase(data_dir / READ_MODEL)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    remove_read_model(data_dir, to)
    shutil.copyfile(data_dir / READ_MODEL, data_dir / to)


def remove_read_model(data_dir: Path, name: str) -> None:
    from projections.store import remove_sqlite

    remove_sqlite(data_dir / name)


def dashboard(data_dir: Path, repeat: int = 100) -> dict[str, float]:
    """The district's dashboard for the 30 days up to the newest event, computed (uncached)."""
    from projections.facts import Clock
    from projections.queries import DashboardQueries
    from projections.store import SQLiteDatabase

    db = SQLiteDatabase(data_dir / READ_MODEL, readonly=True)
    queries = DashboardQueries(db, Clock())
    # The district's newest day: in the newest month (the counter tables are keyed month first).
    last = date.fromisoformat(db.query("SELECT MAX(day) FROM ticket_daily WHERE month = (SELECT MAX(month) FROM ticket_daily) "
                                       "AND prefix = 'd.'")[0][0])
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        answer = queries.dashboard("d", last - timedelta(days=29), last)
        times.append((time.perf_counter() - began) * 1000)
    assert answer.tickets.raised > 0
    times.sort()
    db.close()
    return {"p50_ms": times[len(times) // 2], "p99_ms": times[int(0.99 * (len(times) - 1))], "rss_mb": peak_rss_mb()}


# -- the run --------------------------------------------------------------------------------------


def run(out: Path, ledger_stage: list[str], root: Path, levels: tuple[int, ...] = LEVELS, size: int = WINDOW,
        live_batch: int = LIVE_BATCH, rebuild_batch: int = REBUILD_BATCH) -> list[Level]:
    """Grow history level by level in `root`, measuring each; writes growth.json and growth.md."""
    me = [sys.executable, "-m", "bench.growth"]
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    results: list[Level] = []
    stage([*ledger_stage, "create", str(data)])
    stored = folded = indexed = 0  # events in the ledger's store; ledger positions in the read model and the index
    for history in levels:
        began = time.perf_counter()
        # The history, untimed: written in bulk and folded into the read model at once, side by
        # side (the fold reads what the writer has committed; each has a core of its own).
        writer = [[*ledger_stage, "history", str(data), str(stored), str(history - stored), str(HISTORY_BATCH)]] if history > stored else []
        folder = [[*me, "fold", str(data), str(folded), str(history - folded), str(HISTORY_FOLD_BATCH), "follow"]] if history > folded else []
        prefilled = side_by_side(*writer, *folder)
        written, caught_up = (prefilled[0] if writer else {}), (prefilled[-1] if folder else {})
        stored = folded = max(stored, history)
        if history > indexed:
            stage([*me, "index", str(data), str(indexed), str(history - indexed), str(HISTORY_BATCH), "history"])
            indexed = history
        prefill = time.perf_counter() - began
        # The dashboard before the window: the history's last 30 days are full at every level, where
        # those before the window's end hold the quiet spell that takes it to a month's start.
        board = stage([*me, "dashboard", str(data)])
        window_from_a_month_start(data)
        ledger = stage([*ledger_stage, "window", str(data), str(stored), str(size), str(LIVE_BATCH)])
        stored += size
        after = int(stage([*me, "position", str(data)])["position"])
        copy_read_model(data)  # the rebuild's fold goes on from the same read model, on a copy
        live = stage([*me, "fold", str(data), str(folded), str(after - folded), str(live_batch)])
        rebuilt = stage([*me, "fold", str(data), str(folded), str(after - folded), str(rebuild_batch), REBUILT])
        remove_read_model(data, REBUILT)  # 4.3 GB at 5M
        folded = after
        indexing = stage([*me, "index", str(data), str(indexed), str(after - indexed), str(live_batch)])
        indexed = after
        level = Level(history, ledger["rate"], ledger["cpu_us"], ledger["rss_mb"],
                      live["rate"], live["cpu_us"], live["rss_mb"], int(live["batch"]),
                      rebuilt["rate"], rebuilt["cpu_us"], rebuilt["rss_mb"], int(rebuilt["batch"]),
                      indexing["rate"], indexing["cpu_us"], indexing["rss_mb"], board["p50_ms"], board["p99_ms"], prefill, written.get("rate", 0.0), written.get("cpu_us", 0.0),
                      caught_up.get("rate", 0.0), caught_up.get("cpu_us", 0.0))
        results.append(level)
        print(json.dumps(asdict(level)), flush=True)
    report(results, out)
    return results


def position(data_dir: Path) -> dict[str, float]:
    """How many events the ledger's store holds (the ledger position its last event will have)."""
    from adapters.eventstore import open_recorder

    # SQLite numbers notifications 1, 2, 3... with no gaps (nothing is ever deleted): the count.
    return {"position": open_recorder(Settings(data_dir=data_dir)).max_notification_id() or 0}


def report(levels: list[Level], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "growth.json").write_text(json.dumps([asdict(x) for x in levels], indent=2))
    first = levels[0]
    lines = ["| history (events) | ledger: events/s (CPU µs/event, peak RSS) "
             f"| live projector's fold, batches of {first.fold_batch:,}: events/s (CPU µs/event, peak RSS) "
             f"| rebuild's fold, batches of {first.rebuild_batch:,}: events/s (CPU µs/event, peak RSS) "
             f"| event index, batches of {first.fold_batch:,}: events/s (CPU µs/event, peak RSS) "
             "| district dashboard, last 30 days, uncached: p50 / p99 | pre-fill: seconds (store, fold beside it: events/s) |", "|---|---|---|---|---|---|---|"]
    for x in levels:
        lines.append(f"| {x.history:,} | {x.ledger_rate:,.0f} ({x.ledger_cpu_us:.0f} µs, {x.ledger_rss_mb:.0f} MB) "
                     f"| {x.fold_rate:,.0f} ({x.fold_cpu_us:.0f} µs, {x.fold_rss_mb:.0f} MB) "
                     f"| {x.rebuild_rate:,.0f} ({x.rebuild_cpu_us:.0f} µs, {x.rebuild_rss_mb:.0f} MB) "
                     f"| {x.index_rate:,.0f} ({x.index_cpu_us:.0f} µs, {x.index_rss_mb:.0f} MB) | {x.dashboard_p50_ms:.1f} / {x.dashboard_p99_ms:.1f} ms "
                     f"| {x.prefill_s:,.0f} s ({x.prefill_store_rate:,.0f}, {x.prefill_fold_rate:,.0f}) |")
    last = levels[-1]
    lines += ["", f"At {last.history:,} against {first.history:,}: ledger {last.ledger_rate / first.ledger_rate:.2f} x "
              f"(CPU per event {last.ledger_cpu_us / first.ledger_cpu_us:.2f} x), live fold {last.fold_rate / first.fold_rate:.2f} x "
              f"(CPU per event {last.fold_cpu_us / first.fold_cpu_us:.2f} x), rebuild {last.rebuild_rate / first.rebuild_rate:.2f} x "
              f"(CPU per event {last.rebuild_cpu_us / first.rebuild_cpu_us:.2f} x), event index {last.index_rate / first.index_rate:.2f} x "
              f"(CPU per event {last.index_cpu_us / first.index_cpu_us:.2f} x), the live projector's fold and index together "
              f"{live_projector(last) / live_projector(first):.2f} x (CPU per event "
              f"{(last.fold_cpu_us + last.index_cpu_us) / (first.fold_cpu_us + first.index_cpu_us):.2f} x), dashboard p50 "
              f"{last.dashboard_p50_ms / first.dashboard_p50_ms:.2f} x, p99 {last.dashboard_p99_ms / first.dashboard_p99_ms:.2f} x "
              "(target: each within 20 % of its value at the first level)."]
    (out / "growth.md").write_text("\n".join(lines) + "\n")
    chart(levels, out / "growth.svg")


def live_projector(level: Level) -> float:
    """Events/s of the live projector's work at this level: the fold and the index, one after the
    other in one process (its GIL), so their times per event add up."""
    return 1 / (1 / level.fold_rate + 1 / level.index_rate)


def chart(levels: list[Level], path: Path) -> None:
    """Each figure at each level as a share of its value at the first level: flat is 100 %."""
    series: list[tuple[str, list[float | None]]] = [
        ("ledger CPU µs/event", [x.ledger_cpu_us for x in levels]), ("live fold CPU µs/event", [x.fold_cpu_us for x in levels]),
        ("rebuild CPU µs/event", [x.rebuild_cpu_us for x in levels]), ("event index CPU µs/event", [x.index_cpu_us for x in levels]),
        ("district dashboard p50 (uncached)", [x.dashboard_p50_ms for x in levels])]
    draw([x.history for x in levels], series, path)


COLOURS = ("#1f77b4", "#2ca02c", "#d62728", "#ff7f0e", "#9467bd")


def draw(histories: list[int], series: list[tuple[str, list[float | None]]], path: Path) -> None:
    """An SVG line chart of each series as a share of its first value (None: not measured there)."""
    width, height, left, top, plot_w, plot_h = 780, 330, 60, 30, 600, 220
    levels = histories
    top_share = max(150.0, *(100 * v / s[0] for _, s in series for v in s if v is not None and s[0]))

    def xy(i: int, share: float) -> tuple[float, float]:
        x = left + plot_w * (i / max(1, len(levels) - 1))
        return x, top + plot_h * (1 - share / top_share)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
             f'<text x="{left}" y="18" font-size="13">Cost against history: each figure as % of its value at {levels[0]:,} events</text>']
    for share in (0, 50, 80, 100, 120, 150, 200, 300, 400, 600):
        if share <= top_share:
            _, y = xy(0, share)
            dash = ' stroke-dasharray="4 3"' if share in (80, 120) else ""
            parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#ccc"{dash}/>'
                         f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{share}%</text>')
    for i, history in enumerate(levels):
        px, _ = xy(i, 0)
        parts.append(f'<text x="{px:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{history:,} events</text>')
    for n, ((name, values), colour) in enumerate(zip(series, COLOURS)):
        first = values[0] or 1.0
        points = " ".join(f"{xy(i, 100 * v / first)[0]:.1f},{xy(i, 100 * v / first)[1]:.1f}" for i, v in enumerate(values) if v is not None)
        parts.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts += [f'<circle cx="{xy(i, 100 * v / first)[0]:.1f}" cy="{xy(i, 100 * v / first)[1]:.1f}" r="3" fill="{colour}"/>'
                  for i, v in enumerate(values) if v is not None]
        # The legend in two columns, three rows: five names side by side would run past the chart's width.
        lx, ly = left + 10 + 300 * (n % 2), height - 50 + 16 * (n // 2)
        parts.append(f'<rect x="{lx}" y="{ly}" width="10" height="10" fill="{colour}"/>'
                     f'<text x="{lx + 14}" y="{ly + 9}">{name}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


if __name__ == "__main__":
    command, data_dir, *rest = sys.argv[1:]
    if command == "fold":  # fold DATA START COUNT BATCH [follow] [MODEL]
        options = rest[3:]
        print(json.dumps(fold(Path(data_dir), int(rest[0]), int(rest[1]), int(rest[2]), "follow" in options,
                              next((o for o in options if o != "follow"), READ_MODEL))))
    elif command == "index":  # index DATA START COUNT BATCH [history]
        print(json.dumps(index(Path(data_dir), int(rest[0]), int(rest[1]), int(rest[2]), rest[3:] == ["history"])))
    elif command == "dashboard":
        print(json.dumps(dashboard(Path(data_dir))))
    elif command == "position":
        print(json.dumps(position(Path(data_dir))))
    else:
        raise SystemExit(f"unknown stage {command}")
