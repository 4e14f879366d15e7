"""The HTTP ingest gateway: upstream systems that speak HTTP rather than NATS.

POST /v1/events takes one event or a JSON array of up to 1,000 (16 MiB), validates each against
the contract, publishes the valid ones to CIVIC_INTAKE with acks (Nats-Msg-Id = event_id, so a
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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from pathlib import Path

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
from projections.event_index import MAX_LISTED, BadFilter, EventStatus, Refusal, event_status, refusal_query, refusals
from projections.store import Database
from schemas import DecodeFailure, decode
from schemas.intake import MAX_DEPTH, nesting
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


def split(body: bytes) -> list[bytes]:
    """The request's events as bytes, each decoded on its own later (schemas.intake.decode, which
    also refuses deep nesting); 400 if the body is not JSON or nests too deeply to split."""
    stripped = body.strip()
    # Checked on the whole body before msgspec walks it: its recursion limit depends on how deep
    # the caller's stack already is, so it alone would answer a deep body 400 or 200 by chance.
    if nesting(stripped) > MAX_DEPTH:
        raise HTTPException(status_code=400, detail=f"the body nests arrays or objects more than {MAX_DEPTH} levels deep")
    try:
        if stripped.startswith(b"["):
            items = msgspec.json.decode(stripped, type=list[msgspec.Raw])
            return [bytes(item) for item in items]
        msgspec.json.decode(stripped)  # one object: well-formed at least, validated below
        return [stripped]
    except msgspec.DecodeError as e:
        raise HTTPException(status_code=400, detail=f"the body is not JSON: {e}") from None
    except RecursionError:  # msgspec recurses per level even to skip a Raw element
        raise HTTPException(status_code=400, detail="the body nests arrays or objects too deeply") from None


class GatewayController(Controller):
    path = "/v1/events"
    tags = ["ingest"]

    # The body is read raw on purpose (each event decoded on its own, nesting checked before any
    # parser): Litestar cannot see its type, so opt["body"] names it for /openapi.json.
    @post("/", summary="Publish one event or an array of up to 1,000; an answer per event", status_code=200,
          request_max_body_size=MAX_BODY, security=GATEWAY, opt={"body": ("application/json", "events", MAX_EVENTS)},
          responses=problems(400, 401, 403, 413, s401="No valid gateway token", s403="An event is outside the org subtrees the token may write"))
    async def ingest(self, request: Request, gateway: NamedDependency[Gateway]) -> IngestAnswer:
        system = authenticate(request, gateway)
        items = split(await request.body())
        if len(items) > MAX_EVENTS:
            raise HTTPException(status_code=413, detail=f"{len(items)} events; at most {MAX_EVENTS} per request")
        directory = await gateway.org_directory()
        results: list[EventResult | None] = [None] * len(items)
        valid: list[tuple[int, Event, bytes, str]] = []
        for i, data in enumerate(items):
            try:
                event = decode(data)
            except DecodeFailure as e:
                results[i] = EventResult(i, "rejected", reason=e.code, field=e.field, detail=e.detail)
                continue
            if event.source != system.name:
                results[i] = EventResult(i, "rejected", event.event_id, reason="source_mismatch", field="source",
                                         detail=f"this token publishes as {system.name!r}")
                continue
            try:
                path = await directory.path(event)
            except UnknownOrg as e:
                results[i] = EventResult(i, "rejected", event.event_id, reason="unknown_org", field=e.field, detail=str(e))
                continue
            if not system.may_write(path):
                raise HTTPException(status_code=403, detail=f"event {i} ({event.event_id}) is at {'/'.join(path)}, "
                                                            f"outside what {system.name} may write; nothing was published")
            directory.learn(event)
            valid.append((i, event, data, intake_subject(event, path)))
        js = await gateway.jetstream()
        futures = [await js.publish_async(subject, data, headers={"Nats-Msg-Id": event.event_id, "Nats-Expected-Stream": INTAKE})
                   for _, event, data, subject in valid]
        for (i, event, _, _), outcome in zip(valid, await asyncio.gather(*futures, return_exceptions=True)):
            if isinstance(outcome, BaseException):
                results[i] = EventResult(i, "rejected", event.event_id, reason="not_published", detail=f"NATS: {outcome}; retry later")
            else:
                results[i] = EventResult(i, "accepted", event.event_id, intake_sequence=outcome.seq, duplicate=bool(outcome.duplicate))
        done = [r for r in results if r is not None]
        accepted = sum(r.status == "accepted" for r in done)
        return IngestAnswer(accepted, len(done) - accepted, done)

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

