"""Who may read what on the web: every endpoint of the app, found by walking its route list (a new
endpoint is covered without touching this file), tried by four readers over the scripted district
(tests/scenario.py) on the real pipeline:

  anonymous       no credential
  other staff     staff of village v2 (town tb): must not learn anything about village v1
  right staff     staff of village v1 (town ta)
  auditor         reads everything, changes nothing, never sees contact details

The target ids are village v1 and its ticket T3. For the other village's staff, an endpoint asked
about them must answer exactly as it answers about an id that does not exist (same status, same
body but for the id itself). Sessions, rate limits and tokens are tried at the end.
"""

from __future__ import annotations

import asyncio
import re
import socket
import stat

import httpx
import pytest
import uvicorn
from litestar.routes import HTTPRoute

from civic.web import create_app
from dashboards.accounts import Accounts, accounts_path
from tests.scenario import scenario
from tests.support import bearer, publish_all, wait_for

pytestmark = pytest.mark.integration

ORG, TICKET = "v1", "T3"
UNKNOWN_ORG, UNKNOWN_TICKET = "no-such-unit", "NO-SUCH-TICKET"
PUBLIC = {"/healthz", "/login", "/static/{file_path:path}", "/vendor/echarts.min.js", "/open311/v2/services.json",
          "/open311/v2/services.xml", "/open311/v2/services/{service_file:str}", "/open311/v2/requests.json",
          "/open311/v2/requests.xml", "/open311/v2/requests/{request_file:str}", "/logout", "/openapi.json",
          "/open311/discovery.json", "/open311/discovery.xml",
          "/schema", "/schema/{path:str}", "/schema/openapi.json", "/api/labels"}
"""Open to anyone on purpose (GET; POST /login and /logout): health, signing in, the static files, Open311's reads,
the API's description (OpenAPI: no data), the names of the contract's codes (schemas/labels.py: no data)."""
OWN_CREDENTIALS = {("POST", "/v1/events"), ("GET", "/v1/events/{event_id:str}"), ("GET", "/v1/rejections"), ("POST", "/open311/v2/requests.json"),
                   ("POST", "/open311/v2/requests.xml")}
"""The producers' routes: gateway tokens and Open311 api_keys, checked by the gateway (tests/integration/test_gateway.py)."""
PAGES = {"/", "/orgs/{org_id:str}", "/tickets/{ticket_id:str}"}
"""The HTML shell: anonymous readers are sent to /login."""
READERS = ("anonymous", "other_staff", "right_staff", "auditor")


def fill(path: str, org: str = ORG, ticket: str = TICKET) -> str:
    return (path.replace("{org_id:str}", org).replace("{ticket_id:str}", ticket)
            .replace("{request_file:str}", f"{ticket}.json").replace("{service_file:str}", "parking.json")
            .replace("{event_id:str}", "no-such-event").replace("{file_path:path}", "style.css").replace("{path:str}", "openapi.json"))


def endpoints(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(method, path template) of every HTTP handler the app serves."""
    out = []
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            out += [(m, route.path) for m in sorted(route.methods) if m not in ("HEAD", "OPTIONS")]
    return sorted(set(out))


@pytest.fixture
async def web(settings, pipeline_with_projector):
    events = scenario()
    await publish_all(pipeline_with_projector.projector.js, events)
    accounts = Accounts(accounts_path(settings.data_dir))
    auth = {"anonymous": {}, "auditor": bearer(settings.data_dir),
            "other_staff": bearer(settings.data_dir, "v2-secretary", "staff", "v2"),
            "right_staff": bearer(settings.data_dir, "v1-secretary", "staff", "v1")}
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    app = create_app(settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        async def applied():
            try:
                health = (await client.get("/healthz", headers=auth["auditor"])).json()
            except httpx.HTTPError:
                return False
            return health.get("dashboard_lag") == 0 and health.get("streams") and health["streams"][1]["last_sequence"] == len(events)
        await wait_for(applied, timeout=60)
        client.settings = settings  # type: ignore[attr-defined]
        yield client, app, auth, accounts
    server.should_exit = True
    await serving
    accounts.close()


async def ask(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    if path == "/api/events/stream":  # a stream that never ends: its status and first event
        async with client.stream(method, path, headers=headers) as r:
            first = b""
            if r.status_code == 200:
                async for line in r.aiter_lines():
                    if line.startswith("event:"):
                        first = line.encode()
                        break
            else:
                first = await r.aread()
            return r.status_code, first
    body = {"name": "nobody", "password": "wrong password"} if path == "/login" else None
    r = await client.request(method, path, headers=headers, json=body)
    return r.status_code, r.content


async def same_as_unknown(client, method, template, headers, status, body, where) -> None:  # type: ignore[no-untyped-def]
    """The answer about v1 / T3 is the answer about an id that does not exist: same status, same body but for the id."""
    status_u, body_u = await ask(client, method, fill(template, UNKNOWN_ORG, UNKNOWN_TICKET), headers)
    assert status == status_u == 404, where
    assert body.replace(ORG.encode(), b"{id}").replace(TICKET.encode(), b"{id}") == \
        body_u.replace(UNKNOWN_ORG.encode(), b"{id}").replace(UNKNOWN_TICKET.encode(), b"{id}"), where


async def test_every_endpoint_for_every_reader(web):
    client, app, auth, _ = web
    routes = endpoints(app)
    assert ("GET", "/api/tickets/{ticket_id:str}") in routes and ("GET", "/metrics") in routes
    matrix: dict[tuple[str, str], dict[str, int]] = {}
    for method, template in routes:
        path = fill(template)
        row = matrix[(method, template)] = {}
        for reader in READERS:
            status, body = await ask(client, method, path, auth[reader])
            row[reader] = status
            where = f"{reader} {method} {path}: {status} {body[:200]!r}"
            if (method, template) == ("POST", "/login"):
                assert status == 401, where  # open to all, and the password asked with is wrong
                continue
            if (method, template) in OWN_CREDENTIALS:
                assert status in (401, 403) or (method == "POST" and status in (400, 415, 422)), where
                assert not (reader == "anonymous" and status == 200), where
                continue
            if template in PUBLIC:
                assert status not in (401, 403), where
                if reader == "other_staff" and "{request_file" in template:
                    await same_as_unknown(client, method, template, auth[reader], status, body, where)
                continue
            if reader == "anonymous":
                if template in PAGES:
                    assert status == 303 and b"" == body, where
                else:
                    assert status == 401, where
                continue
            if template == "/metrics":
                assert status == (200 if reader == "auditor" else 403), where
            elif template == "/api/access-log":
                assert status == (200 if reader == "auditor" else 403), where
            elif template.endswith("/contact"):
                assert status == {"auditor": 403, "right_staff": 200, "other_staff": 404}[reader], where
            elif reader == "other_staff" and ("{org_id" in template or "{ticket_id" in template) and template not in PAGES:
                await same_as_unknown(client, method, template, auth[reader], status, body, where)
            else:
                assert status == 200, where
    print("\n" + "\n".join(f"{m:6} {t:45} " + " ".join(f"{r}={c}" for r, c in row.items()) for (m, t), row in matrix.items()))


async def test_what_each_reader_sees_inside_an_answer(web):
    client, _, auth, accounts = web
    settings = client.settings
    orgs = {o["org_id"] for o in (await client.get("/api/orgs", headers=auth["other_staff"])).json()}
    assert orgs == {"v2"}, "a village secretary sees their village"
    assert {o["org_id"] for o in (await client.get("/api/orgs", headers=auth["right_staff"])).json()} == {"v1", "h1"}
    assert len((await client.get("/api/orgs", headers=auth["auditor"])).json()) == 11
    page = (await client.get("/api/orgs/v2/tickets?status=all", headers=auth["other_staff"])).json()
    assert [t["ticket_id"] for t in page["tickets"]] == ["T5"]
    # Open311 for the signed-in: their scope; for the anonymous: every public ticket
    ids = "T1,T3,T5,T7"
    mine = (await client.get(f"/open311/v2/requests.json?service_request_id={ids}", headers=auth["right_staff"])).json()
    assert [r["service_request_id"] for r in mine] == ["T3"]
    # the contact: unsealed for the right staff, and the read is in the access log
    contact = (await client.get(f"/api/tickets/{TICKET}/contact", headers=auth["right_staff"])).json()
    assert contact == [{"resident_id": "res-1", "name": "Resident One", "phone": "13900000001", "address": None, "email": None, "erased": False}]
    log = (await client.get("/api/access-log", headers=auth["auditor"])).json()
    reads = [e for e in log if e["action"] == "contact_read"]
    assert [(e["who"], e["subject"]) for e in reads] == [("v1-secretary", TICKET)], "only the successful read, by whom, of which ticket"
    assert {"user_added", "token_issued"} <= {e["action"] for e in log}, "changes to accounts are in the log too"
    # once the resident's key is destroyed (erasure), the same view says so and shows nothing
    from adapters.keys import KeyStore

    keys = KeyStore(settings.keys_path)
    assert keys.destroy("res-1")
    keys.close()
    erased = (await client.get(f"/api/tickets/{TICKET}/contact", headers=auth["right_staff"])).json()
    assert erased == [{"resident_id": "res-1", "name": None, "phone": None, "address": None, "email": None, "erased": True}]
    # /healthz anonymously: status and reason codes only
    health = (await client.get("/healthz")).json()
    assert set(health) == {"status", "reasons"} and health["status"] == "ok" and health["reasons"] == []


async def test_open311_answers_the_public_only_public_fields(web):
    client, _, auth, _ = web
    services = {x["service_code"] for x in (await client.get("/open311/v2/services.json")).json()}
    assert "parking" in services and not {"public_safety", "elderly_care", "epidemic_control"} & services
    hidden = await client.get("/open311/v2/services/public_safety.json")
    unknown = await client.get("/open311/v2/services/no_such.json")
    assert hidden.status_code == unknown.status_code == 404
    assert (await client.get("/open311/v2/services/public_safety.json", headers=auth["auditor"])).status_code == 200
    anonymous = (await client.get("/open311/v2/requests.json?service_request_id=T1,T3,T5,T7")).json()
    assert [r["service_request_id"] for r in anonymous] == ["T7", "T5", "T3", "T1"]


async def test_sessions_cookies_rate_limits_and_tokens(web):
    client, _, auth, accounts = web
    accounts.add("ta-head", "staff", "ta", "the town head's password", "tests")
    signed = await client.post("/login", json={"name": "ta-head", "password": "the town head's password"})
    assert signed.status_code == 200
    cookie = signed.headers["set-cookie"]
    assert re.search(r"civic_session=[^;]+", cookie) and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Max-Age=28800" in cookie and "Secure" not in cookie  # no TLS here
    session = {"Cookie": cookie.split(";")[0]}
    assert (await client.get("/api/orgs/c1", headers=session)).status_code == 200
    assert (await client.get("/api/orgs/v2", headers=session)).status_code == 404  # v2 is town tb's
    # v1 moved from ta to tb on 9 March: the town head no longer reads the unit, but still the tickets
    # raised while it was theirs (the ones their figures count)
    assert (await client.get("/api/orgs/v1", headers=session)).status_code == 404
    assert (await client.get("/api/tickets/T3", headers=session)).status_code == 200
    # the session ends when the password changes, and a disabled account is refused at once
    accounts.set_password("ta-head", "a brand new password", "tests")
    assert (await client.get("/api/me", headers=session)).status_code == 401
    accounts.disable("v2-secretary", "tests")
    assert (await client.get("/api/me", headers=auth["other_staff"])).status_code == 401
    # five wrong passwords lock the account for a while (429), even with the right one
    for _ in range(5):
        assert (await client.post("/login", json={"name": "ta-head", "password": "wrong wrong"})).status_code == 401
    locked = await client.post("/login", json={"name": "ta-head", "password": "a brand new password"})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0
    # ... and twenty from one address lock every account from that address
    for i in range(20):
        await client.post("/login", json={"name": f"guess-{i}", "password": "wrong wrong"})
    assert (await client.post("/login", json={"name": "test-auditor", "password": "a test password"})).status_code == 429
    assert stat.S_IMODE(accounts.path.stat().st_mode) == 0o600, "the accounts file is the owner's only"


async def test_logout_ends_the_session(settings):
    """Without the pipeline: signing in and out against the accounts file."""
    from litestar.testing import AsyncTestClient

    accounts = Accounts(accounts_path(settings.data_dir))
    accounts.add("zh-v10", "staff", "v1", "a secretary password", "tests")
    async with AsyncTestClient(create_app(settings)) as client:
        assert (await client.post("/login", json={"name": "zh-v10", "password": "a secretary password"})).status_code == 200
        assert (await client.get("/api/me")).json()["name"] == "zh-v10"
        old = client.cookies.get("civic_session")
        out = await client.post("/logout")
        assert out.status_code == 200
        client.cookies.set("civic_session", old)  # replaying the old cookie does not help
        assert (await client.get("/api/me")).status_code == 401
        page = await client.get("/orgs/v1?period=all", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/login?next=%2Forgs%2Fv1%3Fperiod%3Dall"
    accounts.close()
