"""The HTTP ingest gateway: upstream systems that speak HTTP rather than NATS.

POST /v1/events takes one event or a JSON array of up to 1,000 (16 MiB), read as a stream (one
event at a time, producers/elements.py), validates each against the contract, publishes the valid ones to CIVIC_INTAKE with acks (Nats-Msg-Id = event_id, so a
retried request is stored once) and answers per event. GET /v1/events/{event_id} says what
became of an event: the intake ack alone cannot tell that the ledger refused it later.

Each upstream system has a bearer token (only its SHA-256 is kept, in the tokens file) that
names the system and the org subtrees it may write to. An event outside them makes the whole
request 403 and nothing is published.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import secrets
from collections.abc import AsyncIterable, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Annotated
from pathlib import Path
from tempfile import SpooledTemporaryFile

import msgspec
import nats
from nats.js import JetStreamContext
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException
from litestar.params import FromPath, FromQuery, QueryParameter

from adapters.http import GATEWAY, Since, Until, problems
from schemas.topology import INTAKE
from producers.directory import OrgDirectory, UnknownOrg
from producers.elements import BodyError, Element, elements
from projections.event_index import MAX_LISTED, BadFilter, EventStatus, Refusal, event_status, refusal_query, refusals
from projections.store import Database
from schemas import DecodeFailure, decode
from schemas.intake import MAX_DEPTH, MAX_EVENT_BYTES, malformed, oversize, unplaced
from schemas.base import Event
from schemas.topology import intake_subject

MAX_EVENTS = 1000
MAX_BODY = 16 * 1024 * 1024
ANY_ORG = "*"


@dataclass(frozen=True)
class System:
    """An upstream system: its name (the events' `source`) and the org subtrees it may write."""

    name: str
    orgs: frozenset[str]

    def may_write(self, path: tuple[str, ...]) -> bool:
        return ANY_ORG in self.orgs or any(org in self.orgs for org in path)


class Tokens:
    """The tokens file: {"systems": [{"name", "token_sha256", "orgs": [...]}]} (CIVIC_GATEWAY_TOKENS
    or DIR/gateway-tokens.json). Re-read when it changes, so issuing a token needs no restart."""

    def __init__(self, path: Path):
        self.path = path
        self._mtime: float | None = None
        self._systems: dict[str, System] = {}

    def system(self, token: str) -> System | None:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return None
        if mtime != self._mtime:
            data = json.loads(self.path.read_text())
            self._systems = {s["token_sha256"]: System(s["name"], frozenset(s["orgs"])) for s in data.get("systems", [])}
            self._mtime = mtime
        return self._systems.get(hashlib.sha256(token.encode()).hexdigest())

    def issue(self, name: str, orgs: list[str]) -> str:
        """A new token for a system; only its hash is stored. Returns the token (shown once)."""
        token = secrets.token_urlsafe(32)
        data = json.loads(self.path.read_text()) if self.path.exists() else {"systems": []}
        data["systems"].append({"name": name, "token_sha256": hashlib.sha256(token.encode()).hexdigest(), "orgs": orgs})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        return token


class EventResult(msgspec.Struct, omit_defaults=True):
    index: int
    """Position of the event in the request (0 for a single event)."""
    status: str
    """accepted (into intake; the ledger decides next: see GET /v1/events/{event_id}) or rejected."""
    event_id: str | None = None
    intake_sequence: int | None = None
    duplicate: bool = False
    """True when this event_id was already in intake (a retried request): stored once."""
    reason: str | None = None
    field: str | None = None
    detail: str | None = None


class IngestAnswer(msgspec.Struct):
    accepted: int
    rejected: int
    results: list[EventResult]


@dataclass
class Gateway:
    """What the gateway needs from its host app: tokens, a NATS connection, the event index."""

    tokens: Tokens
    connection: Callable[[], Awaitable[nats.NATS]]
    event_index: Callable[[], Database]
    mask: Callable[[str | None], str | None]
    """The personal-data rule for free text shown to a system (dashboards/masking.py, passed in)."""
    directory: OrgDirectory | None = None
    spool_dir: Path | None = None
    """Where a request's valid events wait for its end once they outgrow memory (SPOOL_IN_MEMORY)."""
    _jetstream: tuple[nats.NATS, JetStreamContext] | None = None

    async def jetstream(self) -> JetStreamContext:
        """One JetStream context per connection, kept: each context subscribes an inbox of its own
        for its acks at its first publish_async and never lets it go, so a context per request
        would leave a subscription behind on every request."""
        nc = await self.connection()
        if self._jetstream is None or self._jetstream[0] is not nc:
            self._jetstream = (nc, nc.jetstream())
        return self._jetstream[1]

    async def org_directory(self) -> OrgDirectory:
        if self.directory is None:
            from adapters.bus import ensure_org_directory

            self.directory = OrgDirectory(await ensure_org_directory((await self.connection()).jetstream()))
        return self.directory


def authenticate(request: Request, gateway: Gateway) -> System:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    system = gateway.tokens.system(token) if token else None
    if system is None:
        raise HTTPException(status_code=401, detail="a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    return system


BODY_NOT_JSON = frozenset({"malformed_json"})
"""An element's decode failures that mean the body itself is not JSON: the whole request is 400,
as when the body was parsed whole, not one event refused. (Bad UTF-8 inside a string stays the
event's refusal, invalid_utf8: the whole-body parse skipped the elements as Raw, unchecked.)"""
SPOOL_IN_MEMORY = 1024 * 1024
"""The valid events of a request wait for its end (one event outside the token's subtrees, or a
malformed one further on, and nothing is published) in a spool: in memory up to this, then in an
unlinked temporary file (mode 0600) in the data directory, where intake keeps the same bytes."""
PUBLISH_WINDOW = 256
PUBLISH_WINDOW_BYTES = 1024 * 1024
"""Publishes in flight at once (their acks awaited together): the publish window."""


@dataclass(frozen=True, slots=True)
class Valid:
    """An event that passed the gateway's checks, its bytes in the spool at `at`."""

    index: int
    event_id: str
    subject: str
    at: int
    size: int


@dataclass
class Intake:
    """A request's events as read: an answer for each one refused, the valid ones spooled in order."""

    results: list[EventResult | None]
    valid: list[Valid]
    spool: SpooledTemporaryFile[bytes]


def not_json(e: BodyError | DecodeFailure, element: Element | None = None) -> HTTPException:
    """400 saying where in the body (element, line, column) and why."""
    if isinstance(e, BodyError):
        index, line, column, offset, why = e.element, e.line, e.column, e.offset, e.detail
    else:
        assert element is not None
        index, why = element.index, unplaced(e.detail)
        line, column = element.where(e.offset or 0)
        offset = element.offset + (e.offset or 0)
    at = ("" if index is None else f"element {index}, ") + f"line {line}, column {column}"
    return HTTPException(status_code=400, detail=f"the body is not JSON ({at}): {why}",
                         extra={"element": index, "line": line, "column": column, "offset": offset})


async def read_events(chunks: AsyncIterable[bytes], system: System, directory: OrgDirectory, spool_dir: Path | None = None) -> Intake:
    """One pass over the body as it arrives: each element decoded against the contract and checked
    (source, org, the token's subtrees), refused ones answered, valid ones spooled; nothing is
    published here. The answers are those of parsing the body whole: a body that is not JSON
    anywhere is 400 (before 413 for too many events, before 403 for one outside the subtrees), so
    once 413 or 403 is certain the rest is still read, only for that."""
    intake = Intake([], [], SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=None if spool_dir is None else str(spool_dir)))
    undo: list[tuple[str, str | None]] = []
    count, outside = 0, None
    try:
        async for element in elements(chunks, MAX_EVENT_BYTES, MAX_DEPTH):
            count += 1
            settled = count > MAX_EVENTS or outside is not None  # 413 or 403, unless the body is not JSON further on
            if element.data is None:  # too long to keep: refused unread, as the contract refuses it
                if not settled:
                    intake.results.append(refused(element.index, oversize(element.size)))
                continue
            if settled:
                well_formed(element)
                continue
            try:
                event = decode(element.data)
            except DecodeFailure as e:
                if e.code in BODY_NOT_JSON:
                    raise not_json(e, element) from None
                well_formed(element)  # refused for its type or a field before msgspec read it all
                intake.results.append(refused(element.index, e))
                continue
            outside = await check(element.index, event, element.data, system, directory, intake, undo)
        if count > MAX_EVENTS:
            raise HTTPException(status_code=413, detail=f"{count} events; at most {MAX_EVENTS} per request")
        if outside is not None:
            raise outside
    except BodyError as e:
        directory.unlearn(undo)
        intake.spool.close()
        raise not_json(e) from None
    except BaseException:
        directory.unlearn(undo)
        intake.spool.close()
        raise
    return intake


def well_formed(element: Element) -> None:
    """400 unless the element is JSON, as the whole-body parse found it (each element as Raw)."""
    assert element.data is not None
    try:
        msgspec.json.decode(element.data, type=msgspec.Raw)
    except msgspec.DecodeError as e:
        raise not_json(malformed(element.data, e), element) from None


def refused(index: int, e: DecodeFailure) -> EventResult:
    return EventResult(index, "rejected", reason=e.code, field=e.field, detail=e.detail)


async def check(i: int, event: Event, data: bytes, system: System, directory: OrgDirectory, intake: Intake,
                undo: list[tuple[str, str | None]]) -> HTTPException | None:
    """The gateway's checks of one decoded event: its answer if refused, its bytes spooled if
    valid; a 403 to answer for the whole request if it is outside the token's subtrees."""
    if event.source != system.name:
        intake.results.append(EventResult(i, "rejected", event.event_id, reason="source_mismatch", field="source",
                                          detail=f"this token publishes as {system.name!r}"))
        return None
    try:
        path = await directory.path(event)
    except UnknownOrg as e:
        intake.results.append(EventResult(i, "rejected", event.event_id, reason="unknown_org", field=e.field, detail=str(e)))
        return None
    if not system.may_write(path):
        return HTTPException(status_code=403, detail=f"event {i} ({event.event_id}) is at {'/'.join(path)}, "
                                                     f"outside what {system.name} may write; nothing was published")
    directory.learn(event, undo)
    intake.results.append(None)
    intake.valid.append(Valid(i, event.event_id, intake_subject(event, path), intake.spool.tell(), len(data)))
    intake.spool.write(data)
    return None


async def publish(js: JetStreamContext, intake: Intake) -> IngestAnswer:
    """The spooled events to CIVIC_INTAKE in order, a window at a time, and the answer per event."""
    results = intake.results
    with intake.spool as spool:
        spool.seek(0)
        for window in windows(intake.valid):
            futures = [await js.publish_async(v.subject, spool.read(v.size), headers={"Nats-Msg-Id": v.event_id, "Nats-Expected-Stream": INTAKE})
                       for v in window]
            for v, outcome in zip(window, await asyncio.gather(*futures, return_exceptions=True)):
                if isinstance(outcome, BaseException):
                    results[v.index] = EventResult(v.index, "rejected", v.event_id, reason="not_published", detail=f"NATS: {outcome}; retry later")
                else:
                    results[v.index] = EventResult(v.index, "accepted", v.event_id, intake_sequence=outcome.seq, duplicate=bool(outcome.duplicate))
    done = [r for r in results if r is not None]
    accepted = sum(r.status == "accepted" for r in done)
    return IngestAnswer(accepted, len(done) - accepted, done)


def windows(valid: list[Valid]) -> Iterator[list[Valid]]:
    window: list[Valid] = []
    size = 0
    for v in valid:
        if window and (len(window) >= PUBLISH_WINDOW or size + v.size > PUBLISH_WINDOW_BYTES):
            yield window
            window, size = [], 0
        window.append(v)
        size += v.size
    if window:
        yield window


class GatewayController(Controller):
    path = "/v1/events"
    tags = ["ingest"]

    # The body is read as a stream on purpose (each event decoded on its own as it arrives, nesting
    # checked before any parser): Litestar cannot see its type, so opt["body"] names it for /openapi.json.
    @post("/", summary="Publish one event or an array of up to 1,000; an answer per event", status_code=200,
          request_max_body_size=MAX_BODY, security=GATEWAY, opt={"body": ("application/json", "events", MAX_EVENTS)},
          responses=problems(400, 401, 403, 413, s401="No valid gateway token", s403="An event is outside the org subtrees the token may write"))
    async def ingest(self, request: Request, gateway: NamedDependency[Gateway]) -> IngestAnswer:
        system = authenticate(request, gateway)
        intake = await read_events(request.stream(), system, await gateway.org_directory(), gateway.spool_dir)
        return await publish(await gateway.jetstream(), intake)

    @get("/{event_id:str}", summary="What became of an event: unknown, pending, in the ledger, or rejected and why",
         security=GATEWAY, responses=problems(401, s401="No valid gateway token"))
    async def status(self, request: Request, gateway: NamedDependency[Gateway], event_id: FromPath[str]) -> EventStatus:
        """Only within the token's org subtrees: any other event answers `unknown`, as one never sent."""
        system = authenticate(request, gateway)
        return await asyncio.to_thread(event_status, gateway.event_index(), event_id, system.orgs)




class RejectionsController(Controller):
    path = "/v1/rejections"
    tags = ["ingest"]

    @get("/", summary="The ledger's refusals in the token's org subtrees, newest first, filtered; details masked",
         security=GATEWAY, responses=problems(401, s401="No valid gateway token"))
    async def rejections(self, request: Request, gateway: NamedDependency[Gateway], reason: FromQuery[str | None] = None,
                         org: FromQuery[str | None] = None, since: Since = None, until: Until = None,
                         event_id: FromQuery[str | None] = None, limit: Annotated[int, QueryParameter(ge=1, le=MAX_LISTED)] = 100) -> list[Refusal]:
        """`since`/`until`: ISO 8601 instants (until excluded); `org`: a unit, its subtree;
        `limit`: at most 1,000."""
        system = authenticate(request, gateway)
        try:
            query = refusal_query(reason=reason, org=org, since=since, until=until, event_id=event_id, limit=limit)
        except BadFilter as e:
            raise HTTPException(status_code=422, detail=str(e), extra={"field": e.field}) from None
        return await asyncio.to_thread(refusals, gateway.event_index(), query, system.orgs, gateway.mask)


def tokens_path(data_dir: Path) -> Path:
    return Path(os.environ.get("CIVIC_GATEWAY_TOKENS") or data_dir / "gateway-tokens.json")

