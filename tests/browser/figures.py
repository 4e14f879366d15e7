"""Reading the figures a page shows and the API answers they must equal.

Each figure element carries data-figure (a path into the API's JSON, e.g. `tickets.raised`,
`children[ta].tickets.open`, `by_month[2026-03].tickets.resolved`) and data-value (the JSON
value it formats)."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Page

from tests.browser.stack import Stack

KEYS = {
    "children": lambda x: x["org"]["org_id"],
    "roots": lambda x: x["org"]["org_id"],
    "by_month": lambda x: x["month"],
    "by_category": lambda x: x["category"],
    "time_in_stage": lambda x: x["stage"],
    "workload": lambda x: f"{x['kind']}:{x['receiver']}",
    "roles": lambda x: x["role"],
    "stages": lambda x: x["stage"],
    "units": lambda x: x["unit"],
    "red": lambda x: x["unit"],
    "black": lambda x: x["unit"],
}


def lookup(doc: Any, path: str) -> Any:
    for part in re.findall(r"\w+\[[^\]]*\]|\w+", path):
        if m := re.fullmatch(r"(\w+)\[(.*)\]", part):
            name, key = m.groups()
            matches = [x for x in doc[name] if KEYS[name](x) == key]
            assert len(matches) == 1, f"{path}: {len(matches)} entries for {key}"
            doc = matches[0]
        else:
            doc = doc[part]
    return doc


def shown(page: Page, scope: str = "main") -> list[tuple[str, Any, str]]:
    """(path, value, text) of every figure on the page."""
    rows = page.eval_on_selector_all(f"{scope} [data-figure]", "els => els.map(e => [e.dataset.figure, e.dataset.value, e.textContent])")
    return [(path, json.loads(value), text) for path, value, text in rows]


def org_answers(stack: Stack, org_id: str, window: dict[str, str], *, status: str = "open", others: tuple[str, ...] = ()) -> dict:
    """What the org page asks the API, in one document the figure paths point into."""
    board = stack.get(f"/api/orgs/{org_id}/dashboard", **window)
    month = (window.get("to") or board["window_to"])[:7]
    return {**board, "workload": stack.get(f"/api/orgs/{org_id}/workload"),
            "deadlines": stack.get(f"/api/orgs/{org_id}/deadlines", **window),
            "supervision": stack.get(f"/api/orgs/{org_id}/supervision"),
            "ranking": stack.get(f"/api/orgs/{org_id}/ranking", month=month),
            "ticket_page": stack.get(f"/api/orgs/{org_id}/tickets", status=status, page_size=50),
            "roots": [stack.get(f"/api/orgs/{other}/dashboard", **window) for other in others]}


def assert_shows(page: Page, answers: dict, at_least: int = 20) -> list[tuple[str, Any, str]]:
    figures = shown(page)
    assert len(figures) >= at_least, f"only {len(figures)} figures on the page"
    wrong = [(path, value, lookup(answers, path)) for path, value, _ in figures if value != lookup(answers, path)]
    assert not wrong, f"page differs from the API (path, page, API): {wrong}"
    return figures


def text_of(page: Page, path: str, scope: str = "main") -> str:
    return page.locator(f'{scope} [data-figure="{path}"]').first.text_content() or ""
