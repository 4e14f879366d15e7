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
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from producers.rows import COLUMNS, REQUIRED, RowError, RowMapper
from producers.sdk import Producer, Result

CHUNK_ROWS = 2000


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

    def summary(self) -> str:
        text = (f"{self.imported} of {self.rows} rows imported: {self.events} events, {self.new} new, "
                f"{self.duplicates} already in intake")
        if self.spooled:
            text += f", {self.spooled} spooled until NATS is back"
        return text + (f"; {len(self.problems)} rows reported" if self.problems else "")


def read_rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number where the row starts, row) for each data row."""
    if fmt == "jsonl":
        with open(path, encoding="utf-8-sig") as f:
            for number, text in enumerate(f, 1):
                if text.strip():
                    try:
                        row = json.loads(text)
                    except json.JSONDecodeError as e:
                        yield number, {"__error__": f"not a JSON object: {e.msg}"}
                        continue
                    yield number, row if isinstance(row, dict) else {"__error__": "not a JSON object"}
        return
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
        if missing:
            raise SystemExit(f"{path}: the header lacks required columns {missing} (see docs/import.md)")
        start = reader.line_num + 1
        for row in reader:
            yield start, row
            start = reader.line_num + 1


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
                      mapper_options: dict[str, Any] | None = None, progress: bool = True, **options: Any) -> ImportReport:
    fmt = detect_format(path, fmt)
    mapper = RowMapper(source or path.name, **(mapper_options or {}))
    report = ImportReport()
    seen: dict[str, int] = {}
    bar = _progress(progress)
    task = bar.add_task(f"importing {path.name}", total=count_rows(path, fmt))
    producer = await Producer.connect(url, spool_path, **options)
    try:
        with bar:
            chunk: list[tuple[int, str, list]] = []
            for line, row in read_rows(path, fmt):
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
        report.imported += 1
        report.events += len(row_events)
        report.new += sum(r.accepted and not r.duplicate for r in outcome)
        report.duplicates += sum(r.duplicate for r in outcome)
        report.spooled += sum(r.spooled for r in outcome)
    bar.advance(task, len(chunk))


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


__all__ = ["COLUMNS", "ImportReport", "Problem", "import_file", "read_rows", "write_report"]
