"""/openapi.json says what the code enforces: checked against the app's own handlers (their guard
options), the lifecycle table and the wire events, without starting anything (the web app is
built, never served; tests/integration/test_contract.py runs schemathesis against it served)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from civic.web import create_app
from config import Settings
from dashboards.contract import complete
from projections.queries import STATUSES
from schemas import lifecycle
from schemas.intake import EVENTS_BY_TYPE


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Litestar:
    data = Path(tmp_path_factory.mktemp("web"))
    built = create_app(Settings(data_dir=data, nats_url="nats://127.0.0.1:1"))
    built.state["settings_data_dir"] = data
    return built


@pytest.fixture(scope="module")
def doc(app: Litestar) -> dict:
    return complete(app)


def operations(app: Litestar, doc: dict):  # type: ignore[no-untyped-def]
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                if handler.resolve_include_in_schema():
                    for method in handler.http_methods:
                        yield handler, method, route.path_format, doc["paths"][route.path_format][method.lower()]


def test_security_and_401_403_follow_the_guard(app: Litestar, doc: dict) -> None:
    seen = 0
    for handler, method, path, op in operations(app, doc):
        seen += 1
        where = f"{method} {path}"
        if not handler.opt.get("public"):
            assert op["security"] in ([{"session": []}, {"bearer": []}], [{"bearer": []}]), where
            assert "401" in op["responses"], where
        if handler.opt.get("machine") or handler.opt.get("access_log"):
            assert "403" in op["responses"] and op["security"] == ([{"bearer": []}] if handler.opt.get("machine") else op["security"]), where
        assert "security" in op, f"{where} says nothing about credentials"
        assert "400" not in op["responses"] or path.startswith(("/open311", "/v1/events")), \
            f"{where}: bad parameters are answered 422 here, not Litestar's 400"
    assert seen >= 30
    assert set(doc["components"]["securitySchemes"]) == {"session", "bearer", "gatewayToken"}
    assert doc["paths"]["/v1/events"]["post"]["security"] == [{"gatewayToken": []}]


def test_parameters_are_typed_and_enumerated(doc: dict) -> None:
    tickets = {p["name"]: p for p in doc["paths"]["/api/orgs/{org_id}/tickets"]["get"]["parameters"]}
    assert tickets["status"]["schema"]["enum"] == list(STATUSES)
    assert set(STATUSES) == {*get_args(lifecycle.Status), "overdue", "all"}  # the lifecycle's statuses, and two of the lists'
    summary = doc["components"]["schemas"]["TicketSummary"]["properties"]
    assert summary["stage"]["enum"] == list(lifecycle.STAGES)
    assert (tickets["page"]["schema"]["type"], tickets["page"]["schema"]["minimum"]) == ("integer", 1)
    for path in ("/api/orgs/{org_id}/dashboard", "/api/orgs/{org_id}/dashboard.csv", "/api/orgs/{org_id}/disputes"):
        window = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}
        assert window["from"]["schema"]["format"] == window["to"]["schema"]["format"] == "date", path
    dates = {p["name"]: p for p in doc["paths"]["/open311/v2/requests.json"]["get"]["parameters"]}
    assert dates["start_date"]["schema"]["format"] == "date-time"


def test_bodies_and_media_types(doc: dict) -> None:
    ingest = doc["paths"]["/v1/events"]["post"]
    [one, many] = ingest["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert {r["$ref"].rsplit("/", 1)[1] for r in one["oneOf"]} == set(EVENTS_BY_TYPE) == set(EVENTS_BY_TYPE) & set(doc["components"]["schemas"])
    assert many["items"] == one and set(ingest["responses"]) == {"200", "400", "401", "403", "413"}
    raised = doc["components"]["schemas"]["TicketRaised"]
    assert {"lat", "long", "address_id"} <= set(raised["properties"]) and raised["properties"]["schema_version"]["const"] == 2
    form = doc["paths"]["/open311/v2/requests.json"]["post"]["requestBody"]["content"]
    assert list(form) == ["application/x-www-form-urlencoded"]
    assert list(doc["paths"]["/open311/v2/services.xml"]["get"]["responses"]["200"]["content"]) == ["text/xml"]
    assert doc["paths"]["/open311/v2/services.json"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert set(doc["paths"]["/open311/v2/requests/{request_file}"]["get"]["responses"]["200"]["content"]) == {"application/json", "text/xml"}
    assert list(doc["paths"]["/api/orgs/{org_id}/dashboard.csv"]["get"]["responses"]["200"]["content"]) == ["text/csv"]
    assert list(doc["paths"]["/api/events/stream"]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]
    assert doc["paths"]["/api/orgs/{org_id}/dashboard"]["get"]["responses"]["422"]["content"]["application/json"]["schema"] == \
        {"$ref": "#/components/schemas/Problem"}


def test_both_addresses_serve_the_same_document(app: Litestar, doc: dict) -> None:
    with TestClient(app) as client:
        assert client.get("/openapi.json").json() == client.get("/schema/openapi.json").json() == doc


@pytest.mark.parametrize("path, field", [("/api/orgs/yn/tickets?page=1134232020743652146709752971264", "page"),
                                         ("/api/access-log?since=99999999999999999999999", "since")])
def test_a_number_past_the_store_is_refused_not_a_500(app: Litestar, path: str, field: str) -> None:
    """Found by schemathesis: SQLite's integers end at 2**63; the bound is declared and enforced."""
    from tests.support import bearer

    with TestClient(app) as client:
        answer = client.get(path, headers=bearer(app.state["settings_data_dir"]))
    assert answer.status_code == 422 and answer.json()["field"] == field, answer.text


def test_one_charset_in_every_content_type(app: Litestar) -> None:
    """Litestar adds `charset=utf-8` to every text/* type: a handler that names it too sent it twice."""
    paths = ["/login", "/vendor/echarts.min.js", "/static/style.css", "/api/labels", "/open311/discovery.xml",
             "/open311/discovery.json", "/open311/v2/services.xml", "/open311/v2/services/parking.xml"]
    with TestClient(app) as client:
        for path in paths:
            kind = client.get(path).headers["content-type"]
            assert kind.count("charset") <= 1, (path, kind)
