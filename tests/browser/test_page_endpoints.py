"""What the pages add to the web role, over plain HTTP: the shell and its assets, the lists of
disputes and topics (same scope and window as the figures), and the live event stream."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from dashboards.pages import ECHARTS
from tests.browser.stack import Stack

pytestmark = pytest.mark.integration


def fetch(stack: Stack, path: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(urllib.request.Request(f"{stack.base}{path}", headers=stack.auth), timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_every_page_is_the_same_shell_that_runs_only_its_own_scripts(stack: Stack):
    for path in ("/", "/orgs/v1", "/tickets/T3"):
        status, headers, body = fetch(stack, path)
        assert status == 200 and headers["content-type"].startswith("text/html")
        assert "script-src 'self'" in headers["content-security-policy"]
        assert b'<script type="module" src="/static/app.js">' in body
    assert fetch(stack, "/static/app.js")[0] == 200
    assert fetch(stack, "/vendor/echarts.min.js")[0] == (200 if ECHARTS.exists() else 404)
    assert "/api/events/stream" in stack.get("/openapi.json")["paths"]


def test_disputes_and_topics_of_a_unit_follow_the_figures_scope_and_window(stack: Stack):
    march = {"from": "2026-03-01", "to": "2026-03-31"}
    district = stack.get("/api/orgs/yn/disputes", **march)
    assert [d["dispute_id"] for d in district["items"]] == ["D3", "D2", "D1"] and district["total"] == 3
    assert {d["dispute_id"]: d["outcome"] for d in district["items"]} == {"D1": "settled", "D2": "failed", "D3": None}
    assert district["total"] == stack.get("/api/orgs/yn/dashboard", **march)["disputes"]["registered"]
    assert [(d["dispute_id"], d["org_id"], d["sessions"]) for d in stack.get("/api/orgs/v1/disputes")["items"]] == [("D2", "v1", 1)]
    # 3 to 5 March: D1 (registered the 3rd) and D2 (the 4th), not D3 (the 8th).
    assert [d["dispute_id"] for d in stack.get("/api/orgs/yn/disputes", **{"from": "2026-03-03", "to": "2026-03-05"})["items"]] == ["D2", "D1"]
    # The hamlet's topic was proposed before its village moved: the old town keeps it, the village sees it.
    village = stack.get("/api/orgs/v1/topics", **march)["items"]
    assert [(p["topic_id"], p["org_id"], p["stage"]) for p in village] == [("P2", "v1", "proposed"), ("P1", "h1", "implemented")]
    assert village[1]["votes_for"] == 21 and village[1]["decision"] == "two workdays per household"
    assert [p["topic_id"] for p in stack.get("/api/orgs/ta/topics")["items"]] == ["P2", "P1"]
    assert stack.get("/api/orgs/tb/topics")["items"] == []


def test_lists_refuse_what_the_api_refuses(stack: Stack):
    status, _, body = fetch(stack, "/api/orgs/nowhere/disputes")
    assert status == 404 and json.loads(body)["detail"] == "no org unit nowhere"
    status, _, body = fetch(stack, "/api/orgs/yn/topics?from=March")
    assert status == 422 and json.loads(body)["field"] == "from"


def test_the_event_stream_announces_the_read_models_position(stack: Stack):
    health = stack.applied()
    with urllib.request.urlopen(urllib.request.Request(f"{stack.base}/api/events/stream", headers=stack.auth), timeout=10) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = []
        while not (lines and lines[-1].startswith("data:")):
            lines.append(r.readline().decode().strip())
    assert "event: position" in lines
    assert json.loads(lines[-1].removeprefix("data:")) == {"position": health["streams"][1]["last_sequence"]}
