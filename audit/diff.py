"""`civic audit diff REPORT`: each figure of a published report beside what the ledger supports.

A report is a small YAML or JSON document (docs/audit.md, "Published reports"):

    org: lx                      # the unit the report is about (its whole subtree)
    from: 2026-01-01             # the window, whole days in the district's time zone
    to: 2026-06-30
    published_at: 2026-07-01     # optional: check against the ledger as it stood then
    figures:
      collected: 2647
      resolved: 1508
      satisfaction_rate: 100 %

Counts must be equal, or at least the published one where it is written as a lower bound
("50+"). A rate matches when the ledger's rate, rounded to the decimals the report
wrote, is the published one; except 0 % and 100 %, which must be exact: "100 %" is a claim that
no rated ticket was left unsatisfied, and one dissatisfied rating in 20,000 refutes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from pathlib import Path
from typing import Any

from audit.replay import Replayed
from projections.evidence import Cohort, EvidenceQueries
from projections.facts import TICKET_COUNTERS, Clock

ALIASES = {"collected": "raised"}
TICKET_STOCKS = ("open", "overdue")
COUNTS: dict[str, tuple[str, str]] = {
    **{k: ("tickets", k) for k in (*TICKET_COUNTERS, *TICKET_STOCKS)},
    **{f"disputes_{k}": ("disputes", k) for k in ("registered", "mediated", "settled", "failed")},
    **{f"topics_{k}": ("deliberation", k) for k in ("proposed", "discussed", "decided", "implemented")},
}
RATES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str]] = {
    # figure: (numerator figures, denominator figures, the field of the dashboard)   kpis.md, "... rate"
    "response_rate": (("accepted",), ("dispatched",), "tickets.response_rate"),
    "resolution_rate": (("resolved",), ("raised",), "tickets.resolution_rate"),
    "satisfaction_rate": (("satisfied", "basically_satisfied"), ("rated",), "tickets.satisfaction_rate"),
    "dispute_success_rate": (("disputes_settled",), ("disputes_settled", "disputes_failed"), "disputes.success_rate"),
}
ACCEPTED = sorted({*COUNTS, *RATES, *ALIASES})
SHOWN = 12
"""Ids listed per group; the rest are counted."""


class ReportInvalid(ValueError):
    pass


@dataclass
class Published:
    org: str
    start: date | None
    end: date
    figures: list[tuple[str, Any]]
    title: str = ""
    published_at: str | None = None


@dataclass
class Line:
    figure: str
    published: str
    ledger: str
    supported: bool
    behind: list[str] = field(default_factory=list)


@dataclass
class Diff:
    report: Published
    position: int
    kpi_version: int
    lines: list[Line]

    @property
    def refuted(self) -> list[Line]:
        return [line for line in self.lines if not line.supported]


def load_report(path: Path) -> Published:
    text = path.read_text(encoding="utf-8")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        import yaml  # JSON is YAML too, but YAML's date and number rules differ: JSON first

        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ReportInvalid(f"{path} is neither JSON nor YAML: {e}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("figures"), dict) or not doc["figures"]:
        raise ReportInvalid(f"{path}: a report has `org`, `to` (and `from`) and a non-empty `figures` mapping")
    unknown = [k for k in doc["figures"] if k not in ACCEPTED]
    if unknown:
        raise ReportInvalid(f"{path}: unknown figure(s) {', '.join(map(str, unknown))}; accepted: {', '.join(ACCEPTED)}")
    if not doc.get("org") or not doc.get("to"):
        raise ReportInvalid(f"{path}: `org` and `to` are required")
    start = _day(doc.get("from"), "from") if doc.get("from") else None
    end = _day(doc["to"], "to")
    if start and start > end:
        raise ReportInvalid(f"{path}: `from` is after `to`")
    published_at = doc.get("published_at")
    return Published(str(doc["org"]), start, end, list(doc["figures"].items()), str(doc.get("title") or ""),
                     None if published_at is None else str(published_at))


def _day(value: Any, name: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ReportInvalid(f"`{name}` must be a date, YYYY-MM-DD, not {value!r}") from None


def check(replayed: Replayed, report: Published) -> Diff:
    """Every published figure beside the ledger's, with the items behind each difference."""
    board = replayed.dashboard(report.org, report.start, report.end)
    queries = replayed.queries()
    items = EvidenceQueries(replayed.db, Clock(replayed.timezone)).cohort(queries.prefixes(report.org), report.start, report.end)
    lines = []
    for key, value in report.figures:
        figure = ALIASES.get(key, key)
        try:
            line = _rate(key, figure, value, board, items) if figure in RATES else _count(key, figure, value, board, items)
        except (ValueError, InvalidOperation):
            raise ReportInvalid(f"figure {key}: {value!r} is not a {'rate' if figure in RATES else 'count'}") from None
        lines.append(line)
    return Diff(report, replayed.position, replayed.definitions.version, lines)


def _count(key: str, figure: str, value: Any, board: Any, items: Cohort) -> Line:
    # "50+" (as reports write "50 多", "more than 50"): a lower bound, supported by 50 or more.
    at_least = isinstance(value, str) and value.strip().endswith("+")
    published = _integer(value.strip()[:-1] if at_least else value)
    section, name = COUNTS[figure]
    actual = getattr(getattr(board, section), name)
    line = Line(key, str(value), str(actual), actual >= published if at_least else published == actual)
    if line.supported or figure in TICKET_STOCKS:
        return line  # open and overdue are stocks at the end of the window: replay --as-of shows them
    counted = items.of(figure)
    if published < actual:
        line.behind.append(_ids(f"counted ({actual})", counted))
    else:
        base = {"tickets": "raised", "disputes": "disputes_registered", "deliberation": "topics_proposed"}[section]
        base = "rated" if figure in ("satisfied", "basically_satisfied", "dissatisfied", "contacted") else base
        line.behind.append(_ids(f"{base}, not {figure}", [i for i in items.of(base) if i not in counted]))
    if figure == "raised" and items.of("voided"):
        line.behind.append(_ids("voided as duplicates (not counted)", items.of("voided")))
    return line


def _rate(key: str, figure: str, value: Any, board: Any, items: Cohort) -> Line:
    numerator, denominator, shown = RATES[figure]
    top = {i for f in numerator for i in items.of(f)}
    bottom = [i for f in denominator for i in items.of(f)]
    bottom = list(dict.fromkeys(bottom))
    section, name = shown.split(".")
    reported = getattr(getattr(board, section), name)
    exact = Fraction(len(top), len(bottom)) if bottom else None
    if (None if exact is None else round(float(exact), 4)) != reported:
        raise RuntimeError(f"{figure}: the dashboard says {reported}, its items give {exact}; the read model disagrees with itself")
    text, fraction, number, percent = _published_rate(value)
    if exact is None:
        return Line(key, text, "none (nothing to count it over)", False, [f"no {' or '.join(denominator)} items in the window"])
    if fraction in (0, 1):
        supported = exact == fraction
    else:
        scaled = Decimal(exact.numerator) / Decimal(exact.denominator) * (100 if percent else 1)
        supported = scaled.quantize(number, rounding=ROUND_HALF_UP) == number  # to the decimals the report wrote
    line = Line(key, text, f"{float(exact) * 100:.1f} % ({len(top)} of {len(bottom)})", supported)
    below = [i for i in bottom if i not in top]
    if figure == "satisfaction_rate":
        line.behind.append(_ids("dissatisfied (latest rating)", items.of("dissatisfied")))
        line.behind.append(_ids("basically satisfied (counted as satisfied)", items.of("basically_satisfied")))
        line.behind.append(_ids("rated dissatisfied before a later rating", [t for t in items.ever_dissatisfied if t not in below]))
    elif figure == "dispute_success_rate":
        line.behind.append(_ids("failed", below))
        line.behind.append(_ids("still in mediation (not counted)", [d for d in items.of("disputes_registered") if d not in bottom]))
    else:
        line.behind.append(_ids(f"{denominator[0]}, not {numerator[0]}", below))
    line.behind = [b for b in line.behind if b]
    return line


def _integer(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return int(str(value).replace(",", "").replace(" ", ""))


def _published_rate(value: Any) -> tuple[str, Fraction, Decimal, bool]:
    """(as written, as a fraction of 1, the number written, written as a percentage)."""
    if isinstance(value, bool):
        raise ValueError(value)
    text = str(value).strip()
    percent = text.endswith("%")
    number = Decimal(text.rstrip("% ").replace(",", ""))
    if not percent and number > 1:
        percent = True  # "96.3" in a rate column means per cent
    fraction = Fraction(number) / (100 if percent else 1)
    if not 0 <= fraction <= 1:
        raise ValueError(value)
    return (f"{number} %" if percent else text), fraction, number, percent


def _ids(label: str, ids: list[str]) -> str:
    if not ids:
        return ""
    more = f" … and {len(ids) - SHOWN} more" if len(ids) > SHOWN else ""
    return f"{label}: {', '.join(ids[:SHOWN])}{more}"
