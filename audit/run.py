"""The CLI glue of the audit commands: connect, run with a progress bar on stderr, print with rich.
Each function returns the exit code: 0 good, 1 a fault or a refuted figure, 2 a bad request."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import msgspec
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from adapters.bus import connect
from config import Settings
from schemas import topology

if TYPE_CHECKING:  # imported where they are used, to keep the CLI quick to start
    from audit.replay import Replayed
    from projections.deadline_queries import DeadlineBoard
    from projections.queries import Dashboard, DisputeFigures, TicketFigures


# Tables are wider than 80 columns: keep them whole when printed to a pipe or a file.
out = Console(width=max(120, shutil.get_terminal_size().columns), soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@asynccontextmanager
async def ledger(settings: Settings, identity: str = "auditor") -> AsyncIterator:
    """The ledger stream, read as `identity` (an auditor by default: it may read nothing else)."""
    nc = await connect(settings, identity, connect_timeout=5, max_reconnect_attempts=3)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[..., None]]:
    """A bar with events/s; yields update(position, end[, rate])."""
    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]:>9,.0f} events/s"),
                  TimeRemainingColumn(), console=err, transient=False) as bar:
        task = bar.add_task(label, total=None, rate=0.0)

        def update(position: int, end: int, rate: float | None = None) -> None:
            elapsed = bar.tasks[0].elapsed or 0
            bar.update(task, completed=position, total=end, rate=rate if rate is not None else (position / elapsed if elapsed else 0))
        yield update


async def replayed(settings: Settings, as_of: str | None, kpi_version: int | None) -> Replayed:
    from audit.kpi import definitions
    from audit.replay import parse_instant, replay

    definitions(kpi_version)  # refuse an unknown version before connecting
    instant = parse_instant(as_of, settings.timezone) if as_of else None
    async with ledger(settings) as js:
        with progress_bar("replay") as update:
            result = await replay(js, instant, kpi_version, settings.timezone, progress=update)
    zone = ZoneInfo(settings.timezone)
    stored = result.last_stored.astimezone(zone).isoformat(timespec="seconds") if result.last_stored else "-"
    err.print(f"replayed ledger positions 1..{result.position} of {result.ledger_end} "
              f"({'stored up to ' + result.as_of.astimezone(zone).isoformat() if result.as_of else 'the whole ledger'}; last event stored {stored}) "
              f"in {result.seconds:.1f}s, {result.rate:,.0f} events/s, with KPI definitions version {result.definitions.version}")
    return result


async def run_replay(settings: Settings, as_of: str | None, org: str | None, out_file: Path | None, kpi_version: int | None,
                     deadlines_file: Path | None = None) -> int:
    from audit.replay import ReplayFailed
    from projections.queries import NotFound

    try:
        result = await replayed(settings, as_of, kpi_version)
    except ReplayFailed as e:
        err.print(str(e))
        return 1
    try:
        orgs = [org] if org else result.roots()
        if (out_file or deadlines_file) and len(orgs) != 1:
            err.print(f"--out and --deadlines-out write one unit's figures (the API's shape): choose it with --org "
                      f"({', '.join(orgs) or 'the ledger has no unit'})")
            return 2
        boards = [result.dashboard(o) for o in orgs]
        deadline_boards = [result.deadlines(o) for o in orgs]
    except NotFound as e:
        err.print(f"{e} in the ledger as of then")
        return 2
    finally:
        result.close()
    if out_file:
        out_file.write_bytes(msgspec.json.encode(boards[0]) + b"\n")
        err.print(f"wrote {out_file}: the dashboard of {orgs[0]} to {result.day} as of ledger position {result.position}")
    if deadlines_file:
        deadlines_file.write_bytes(msgspec.json.encode(deadline_boards[0]) + b"\n")
        err.print(f"wrote {deadlines_file}: the deadline figures of {orgs[0]} to {result.day} as of ledger position {result.position}")
    for board, deadlines in zip(boards, deadline_boards):
        out.print(dashboard_table(board, f"{board.org.org_id} ({board.org.name}), up to {board.window_to}, ledger position "
                                         f"{board.position}, KPI definitions v{result.definitions.version}"))
        out.print(deadline_table(deadlines, f"{deadlines.org.org_id}: deadlines due up to {deadlines.window_to}, overdue now as of "
                                            f"ledger position {deadlines.position}"))
    return 0


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def deadline_table(board: DeadlineBoard, title: str) -> Table:
    """On time, late, overdue now, chased and supervised per role and stage (docs/kpis.md, "Deadlines")."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("role", "stage", "due", "on time", "late", "on-time rate", "overdue now", "chased", "supervised"):
        table.add_column(column, justify="left" if column in ("role", "stage") else "right")
    for role in board.roles:
        for name, f in (("all", role.total), *((s.stage, s.figures) for s in role.stages)):
            table.add_row(role.role if name == "all" else "", name, str(f.due), str(f.on_time), str(f.late), _pct(f.on_time_rate),
                          str(f.overdue_now), str(f.chased), str(f.supervised))
    return table


def dashboard_table(board: Dashboard, title: str) -> Table:
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("unit", "raised", "resolved", "closed", "open", "overdue", "response", "resolution", "satisfied",
                   "disputes", "mediated", "settled"):
        table.add_column(column, justify="left" if column == "unit" else "right")

    def row(name: str, t: TicketFigures, d: DisputeFigures) -> None:

        table.add_row(name, str(t.raised), str(t.resolved), str(t.closed), str(t.open), str(t.overdue), _pct(t.response_rate),
                      _pct(t.resolution_rate), _pct(t.satisfaction_rate), str(d.registered), str(d.mediated), _pct(d.success_rate))
    row(f"[bold]{board.org.org_id}[/bold]", board.tickets, board.disputes)
    for child in board.children:
        row(f"  {child.org.org_id}", child.tickets, child.disputes)
    p = board.deliberation
    table.caption = (f"time to accept p50 {board.time_to_accept.p50} h, to resolve p50 {board.time_to_resolve.p50} h; "
                     f"topics proposed {p.proposed}, decided {p.decided}, implemented {p.implemented}")
    return table


async def run_trail(settings: Settings, kind: str, entity_id: str, full_scan: bool) -> int:
    from audit.trail import scan, trail
    from projections.dashboard import NAME
    from projections.queries import DashboardQueries
    from projections.store import Versions

    with Versions(NAME, settings.data_dir, settings.database_url) as versions:
        version = None if full_scan else versions.current()
    async with ledger(settings) as js:
        if version is None:
            with progress_bar(f"scanning the ledger for {kind} {entity_id}") as update:
                positions, found_by = await scan(js, kind, entity_id, progress=update), "a full scan of the ledger"
        else:
            db = versions.open(version, readonly=True)
            try:
                index = DashboardQueries(db).trail_index(kind, entity_id)
            finally:
                db.close()
            positions = index.positions + await scan(js, kind, entity_id, start=index.position + 1)
            found_by = f"the dashboard read model's index (v{version}, up to position {index.position}) and a scan after it"
        result = await trail(js, kind, entity_id, positions, found_by)
    if not result.steps:
        err.print("\n".join(result.faults))
        return 1
    zone = ZoneInfo(settings.timezone)
    out.print(f"{kind} {entity_id}: {len(result.steps)} events at {', '.join(sorted({'/'.join(s.org_path) for s in result.steps}))}, "
              f"found by {result.found_by}; times in {settings.timezone}", highlight=False)
    for s in result.steps:
        since = "" if s.hours_since_previous is None else f"+{s.hours_since_previous:g} h"
        link = "ok" if s.linked else "[red]BROKEN[/red]"
        out.print(f"#{s.position:<6} {s.occurred_at.astimezone(zone):%Y-%m-%d %H:%M}  {s.type:<20} {s.actor:<20} {since:>8}  "
                  f"-> {s.stage or '':<12} {s.hash[:12]}… {link}", highlight=False)
        if detail := _detail(s.detail):
            out.print(f"        {detail}", highlight=False, markup=False)  # residents' and workers' own words
    out.print("hours in each stage: " + (", ".join(f"{k} {v:g}" for k, v in result.hours_in_stage.items()) or "-"))
    out.print(f"ok: h(n) recomputed from the {topology.HASH_HEADER} recorded at n-1 and the event's bytes is the one recorded at n; "
              "`civic audit verify` proves the whole chain.")
    for fault in result.faults:
        out.print(f"[red]{fault}[/red]")
    return 0 if result.ok else 1


def _detail(detail: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in detail.items() if v not in (None, "", [], {}))


async def run_diff(settings: Settings, report_file: Path, as_of: str | None, kpi_version: int | None) -> int:
    from audit.diff import ReportInvalid, check, load_report
    from audit.replay import ReplayFailed
    from projections.queries import NotFound

    try:
        report = load_report(report_file)
    except (ReportInvalid, OSError) as e:
        err.print(str(e))
        return 2
    try:
        result = await replayed(settings, as_of or report.published_at, kpi_version)
    except ReplayFailed as e:
        err.print(str(e))
        return 1
    try:
        diff = check(result, report)
    except (ReportInvalid, NotFound) as e:
        err.print(str(e))
        return 2
    finally:
        result.close()
    window = f"{report.start or 'the beginning'} to {report.end}"
    stood = f" as stored by {result.as_of.isoformat()}" if result.as_of else ""
    table = Table(title=f"{escape(report.title or report_file.name)}: {report.org}, {window}; ledger positions 1..{diff.position}{stood}, "
                        f"KPI definitions v{diff.kpi_version}", title_justify="left")
    for column in ("figure", "published", "ledger", "verdict", "behind it"):
        table.add_column(column)
    for line in diff.lines:
        table.add_row(escape(line.figure), escape(line.published), line.ledger, "supported" if line.supported else "[red]REFUTED[/red]",
                      "\n".join(line.behind))
    out.print(table)
    refuted = diff.refuted
    out.print(f"{len(refuted)} of {len(diff.lines)} figures refuted" + (": " + ", ".join(r.figure for r in refuted) if refuted else ""))
    return 1 if refuted else 0


async def run_checkpoint(settings: Settings, key_file: Path | None, out_file: Path | None) -> int:
    from audit.checkpoint import default_paths, write_checkpoint

    from audit.checkpoint import CheckpointsUnusable, outside_data

    try:
        default_key, default_out = default_paths(settings)
        key_file, out_file = outside_data(settings.data_dir, key_file or default_key), outside_data(settings.data_dir, out_file or default_out)
    except CheckpointsUnusable as e:
        err.print(str(e))
        return 2
    async with ledger(settings, "checkpoint") as js:
        written = await write_checkpoint(js, key_file, out_file, settings.checkpoint_witness)
    if written.created_key:
        err.print(f"created the checkpoint key {key_file} (mode 0600); its public key, also in {key_file.with_suffix('.pub')}:")
    if not written.report.ok:
        out.print(written.report.summary())
        out.print("no checkpoint written: the ledger does not verify from the last checkpoint on")
        return 1
    c = written.checkpoint
    if c is None:
        out.print(f"nothing new to checkpoint: the ledger ends at position {written.report.position}")
    else:
        witness = f" and sent to the witness {settings.checkpoint_witness}" if settings.checkpoint_witness else ""
        out.print(f"checkpoint: position {c.position}, hash {c.hash}, at {c.at}, appended to {out_file}{witness}")
    out.print(f"public key: {written.public_key}")
    return 0


async def run_export(settings: Settings, org: str, start: date, end: date, folder: Path) -> int:
    from audit.bundle import ExportRefused, export

    async with ledger(settings) as js:
        try:
            with progress_bar(f"export {org}") as update:
                done = await export(js, org, start, end, folder, settings.timezone, progress=update)
        except ExportRefused as e:
            err.print(str(e))
            return 1
    out.print(f"exported {done.events} events of {org} from {start} to {end} (ledger head {done.head}) to {folder}; "
              f"check it with `civic audit verify --bundle {folder}`")
    return 0

