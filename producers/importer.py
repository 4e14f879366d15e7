"""`civic import FILE`: a historical micro-list export (CSV or JSON Lines, one row per ticket)
into intake, through the producer SDK, with a report of the rows that could not be imported.

Rows are read and published in chunks (publish_many), so a file of any size streams through in
bounded memory at thousands of rows a second. A row whose events the SDK refuses (e.g. an org
unit the ledger does not know) is reported as well; its other events are still sent, and the
ledger refuses them for the same reason, so nothing half-imported is stored.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from producers.rows import COLUMNS, REQUIRED, RowError, RowMapper, column_of
from producers.sdk import Producer, Result
from producers.verdicts import IndexReader, await_verdicts
from schemas.rejected import REASONS

CHUNK_ROWS = 2000


class UnreadableFile(ValueError):
    """The file as a whole cannot be imported (not UTF-8, no usable header): one sentence."""


@dataclass
class Problem:
    line: int
    ticket_id: str
    reason: str
    column: str = ""


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    events: int = 0
    new: int = 0
    """Events stored in intake by this run (not duplicates of an earlier run)."""
    duplicates: int = 0
    spooled: int = 0
    problems: list[Problem] = field(default_factory=list)
    in_intake: list[tuple[int, str, list[tuple[str, int]]]] = field(default_factory=list)
    """(line, ticket_id, its events' (event_id, intake sequence)) of each row stored in intake."""
    ledger: bool = False
    """Whether the ledger's verdicts were waited for (then `imported` counts rows it accepted)."""
    accepted: int = 0
    """Events the ledger accepted (or already held)."""
    refused_rows: int = 0
    pending_rows: int = 0

    def summary(self) -> str:
        text = (f"{self.imported} of {self.rows} rows imported: {self.events} events, {self.new} new, "
                f"{self.duplicates} already in intake")
        if self.spooled:
            text += f", {self.spooled} spooled until NATS is back"
        if self.ledger:
            text += f"; the ledger accepted {self.accepted} events, refused {self.refused_rows} rows"
            if self.pending_rows:
                text += f", {self.pending_rows} rows still pending"
        return text + (f"; {len(self.problems)} rows reported" if self.problems else "")


def read_rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number where the row starts, row) for each data row; UnreadableFile for a file that
    is not UTF-8 text (an export saved as GBK, say) or lacks the required columns."""
    try:
        yield from _rows(path, fmt)
    except UnicodeDecodeError as e:
        raise UnreadableFile(f"{path} is not UTF-8 text ({e.reason} at byte {e.start} of a block): "
                             f"save it as UTF-8 (an export in GBK: iconv -f GBK -t UTF-8)") from None


def _rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    if fmt == "jsonl":
        with open(path, encoding="utf-8-sig") as f:
            for number, text in enumerate(f, 1):
                if text.strip():
                    try:
                        row = json.loads(text)
                    except json.JSONDecodeError as e:
                        yield number, {"__error__": f"not JSON: {e.msg} at line {number}, column {e.colno}"}
                        continue
                    yield number, row if isinstance(row, dict) else {"__error__": "not a JSON object"}
        return
    yield from _csv_rows(path)


def _csv_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """CSV rows read strictly: a row the csv module cannot end (a quote never closed, a stray
    quote) is reported at the line it starts on, and reading starts again at the next line, so
    the rows after it are not swallowed into one cell."""
    with open(path, encoding="utf-8-sig", newline="") as f:
        header = next(csv.reader(f, strict=True), None) or []
    header = [name.strip() for name in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise UnreadableFile(f"{path}: the header lacks required columns {missing} (see docs/import.md)")
    done = 1  # physical lines consumed: the header
    while True:
        with open(path, encoding="utf-8-sig", newline="") as f:
            for _ in range(done):
                f.readline()
            reader = csv.reader(f, strict=True)
            start = done + 1
            try:
                for cells in reader:
                    end = done + reader.line_num
                    if cells and any(c.strip() for c in cells):
                        if len(cells) > len(header) and any("\n" in c or "\r" in c for c in cells):
                            yield start, {"__error__": f"a quoted cell runs on for {end - start + 1} lines into "
                                                       f"{len(cells)} cells (the header has {len(header)}): a quote not closed?"}
                            done = start
                            break
                        yield start, dict(zip(header, cells + [""] * (len(header) - len(cells))))
                    start = end + 1
                else:
                    return
            except csv.Error as e:
                yield start, {"__error__": f"not a CSV row ({e}): a quote opened on this line is not closed"}
                done = start


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        return fmt
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson", ".json") else "csv"


def count_rows(path: Path, fmt: str) -> int | None:
    """For the progress bar; exact for JSON Lines, an upper bound for CSV with multi-line cells."""
    try:
        with open(path, "rb") as f:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
    except OSError:
        return None
    return lines if fmt == "jsonl" else max(lines - 1, 0)


async def import_file(url: str, path: Path, *, fmt: str | None = None, source: str | None = None,
                      report_path: Path | None = None, spool_path: Path | None = None,
                      mapper_options: dict[str, Any] | None = None, progress: bool = True,
                      wait: float | None = 30.0, index: IndexReader = lambda ids, seqs: None, **options: Any) -> ImportReport:
    """Import a file; with `wait` (seconds without a new verdict before giving up), a row counts as
    imported only once the ledger has accepted each of its events, and a row the ledger refused
    (or has not decided) is reported with the reason."""
    fmt = detect_format(path, fmt)
    mapper = RowMapper(source or path.name, **(mapper_options or {}))
    report = ImportReport()
    seen: dict[str, int] = {}
    rows = read_rows(path, fmt)
    first = next(rows, None)  # the file's own mistakes (a header without the required columns) before connecting
    bar = _progress(progress)
    task = bar.add_task(f"importing {path.name}", total=count_rows(path, fmt))
    producer = await Producer.connect(url, spool_path, **options)
    try:
        with bar:
            chunk: list[tuple[int, str, list]] = []
            for line, row in itertools.chain([first] if first else [], rows):
                report.rows += 1
                ticket = str(row.get("ticket_id") or "").strip()
                try:
                    if "__error__" in row:
                        raise RowError(row["__error__"])
                    if ticket in seen:
                        raise RowError(f"ticket_id repeats line {seen[ticket]}", "ticket_id")
                    events = mapper.checked(row)
                    seen[ticket] = line
                    chunk.append((line, ticket, events))
                except RowError as e:
                    report.problems.append(Problem(line, ticket, e.reason, e.field or ""))
                    bar.advance(task)
                if len(chunk) >= CHUNK_ROWS:
                    await _publish(producer, chunk, report, bar, task)
                    chunk = []
            await _publish(producer, chunk, report, bar, task)
        if producer.spooled:  # NATS went away: give it a minute, else the next run on this spool sends them
            await producer.flush(timeout=60)
        if wait is not None and report.in_intake:
            await _verdicts(producer, report, wait, index)
    finally:
        await producer.close()
    report.problems.sort(key=lambda p: p.line)
    write_report(report_path or path.with_name(path.name + ".report.csv"), report)
    return report


async def _publish(producer: Producer, chunk: list[tuple[int, str, list]], report: ImportReport,
                   bar: Progress, task: Any) -> None:
    if not chunk:
        return
    events = [event for _, _, row_events in chunk for event in row_events]
    results: list[Result] = await producer.publish_many(events)
    at = 0
    for line, ticket, row_events in chunk:
        outcome = results[at:at + len(row_events)]
        at += len(row_events)
        refused = next((r for r in outcome if not r.accepted and not r.spooled), None)
        if refused is not None:
            report.problems.append(Problem(line, ticket, refused.reason or "refused", refused.field or ""))
            continue
        if not any(r.spooled for r in outcome):
            report.in_intake.append((line, ticket, [(r.event_id or "", r.sequence or 0) for r in outcome]))
        report.imported += 1
        report.events += len(row_events)
        report.new += sum(r.accepted and not r.duplicate for r in outcome)
        report.duplicates += sum(r.duplicate for r in outcome)
        report.spooled += sum(r.spooled for r in outcome)
    bar.advance(task, len(chunk))


async def _verdicts(producer: Producer, report: ImportReport, wait: float, index: IndexReader) -> None:
    """The ledger's verdict on every event in intake; a row with one refused (or undecided) is
    not imported after all, and is reported with the first refusal's reason."""
    sent = [pair for _, _, pairs in report.in_intake for pair in pairs]
    verdicts = {v.event_id: v for v in await await_verdicts(producer.nc, producer.js, sent, index, wait)}  # type: ignore[arg-type]
    report.ledger = True
    for line, ticket, pairs in report.in_intake:
        row = [verdicts[event_id] for event_id, _ in pairs]
        refused = next((v for v in row if v.status == "refused"), None)
        pending = [v for v in row if v.status == "pending"]
        if refused is None and not pending:
            report.accepted += len(row)
            continue
        report.imported -= 1
        report.events -= len(row)
        if refused is not None:
            report.refused_rows += 1
            sentence = reason_sentence(refused.reason or "")
            report.problems.append(Problem(line, ticket, f"refused by the ledger: {refused.reason}: {sentence}"
                                           + (f" [{refused.detail}]" if refused.detail and refused.detail != sentence else ""),
                                           _column(refused.field)))
        else:
            report.pending_rows += 1
            report.problems.append(Problem(line, ticket, f"pending: no verdict from the ledger on {len(pending)} of its events "
                                                         f"within the wait; import the file again to wait again (nothing is stored twice)"))


def reason_sentence(code: str) -> str:
    return REASONS[code].sentence if code in REASONS else code


def _column(field: str | None) -> str:
    return column_of(field) or "" if field else ""


def write_report(path: Path, report: ImportReport) -> None:
    """CSV: line, ticket_id, column, reason; one row per row not imported (just the header if none)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["line", "ticket_id", "column", "reason"])
    for p in report.problems:
        writer.writerow([p.line, p.ticket_id, p.column, p.reason])
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _progress(enabled: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("rows"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled)


__all__ = ["COLUMNS", "ImportReport", "Problem", "UnreadableFile", "import_file", "read_rows", "write_report"]
