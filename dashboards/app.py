"""The web role's Litestar app: health, metrics, the dashboards' API and pages, and its OpenAPI
document. Routes of other packages (the producers' gateway and Open311) come in as parameters:
civic/web.py, the composition root, puts them together, so dashboards/ never imports producers/.

The OpenAPI document (/openapi.json, also /schema/openapi.json) is Litestar's, completed in one
place by dashboards/contract.py (the guard's 401/403 and security, 422, 503).

Every handler needs a signed-in reader (dashboards/auth.py) unless it is marked public: /healthz
(status and reason codes only), /login, the static files, Open311's reads. The routes passed in
check their own credentials (gateway tokens, Open311 api_key).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any


import msgspec
import nats
from nats.aio.subscription import Subscription
from litestar import Litestar, MediaType, Request, Router, get
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.response import Response
from litestar.types import ControllerRouterHandler

from adapters.bus import connect_options
from config import Settings
from adapters.http import OPTIONAL_READER, allow_every_method, problem
from dashboards import metrics
from dashboards.contract import COMPONENTS, complete
from dashboards.accounts import Accounts, accounts_path
from dashboards.api import DashboardController, Invalid, ReadSide, RejectionsController, invalid_params, read_side
from dashboards.auth import PUBLIC, Authenticate, LoginLimiter, guard
from dashboards.contacts import Contacts, contact_route
from dashboards.deadlines import Calendar, DeadlineController
from dashboards.health import Health, HealthProbe
from dashboards.login import login_routes
from dashboards.pages import SECURITY_HEADERS, web_pages
from dashboards.subjects import subject_route
from projections.gaps import unacknowledged_gaps
from projections import event_index
from projections.readside import NotBuilt, Upgrading
from projections.store import Versions
from schemas.status import decode_read_model
from schemas.topology import DASHBOARD_STATUS_KEY, status_subject

log = logging.getLogger("civic.web")


def _unheard(task: asyncio.Task[Subscription]) -> None:
    """Not subscribed: answers then read the position from the database, once a second at most."""
    if not task.cancelled() and (e := task.exception()) is not None:
        log.warning("not hearing the projector's read-model position (%s)", e)


class CompletedJson(JsonRenderPlugin):
    """/schema/openapi.json serves the same document as /openapi.json (dashboards/contract.py)."""

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, complete(request.app))


def not_built(_: Request, exc: Exception) -> Response[dict[str, str]]:
    return Response({"detail": str(exc)}, status_code=503)


def upgrading(_: Request, exc: Exception) -> Response[dict[str, str]]:
    """A read model being rewritten to a newer layout (projections/readside.py Upgrading): not an
    error of the server, a wait of seconds to a minute, once."""
    return Response({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(Upgrading.retry_after)})


def reasons(health: Health) -> list[str]:
    """Reason codes for a status that is not ok (the health check's own, once it gives them)."""
    given = getattr(health, "reasons", None)
    if given:
        return [getattr(r, "code", r) for r in given]
    if health.status == "ok":
        return []
    if not health.nats_connected:
        return ["nats_unreachable" if health.status == "starting" else "nats_disconnected"]
    return ["streams_missing" if health.status == "starting" else "streams_unreadable"]


class Web:
    """What the web role's routes share: the NATS connection (health, and publishing for the
    gateway), the dashboards' read side and the event index, the accounts."""

    def __init__(self, settings: Settings, unseal: Callable[..., Any] | None = None):
        self.settings = settings
        self.read = read_side(settings.data_dir, settings.database_url, settings.timezone)
        self.probe = HealthProbe(settings.resolved_nats_url(), settings.ledger_alarm_path, settings, self.read_model_position,
                                 lambda: unacknowledged_gaps(self.read.db()), connect_options(settings, "web"))
        self.events = ReadSide(Versions(event_index.NAME, settings.data_dir, settings.database_url), self.read.clock,
                               upgrading=event_index.upgrading)
        self.accounts = Accounts(accounts_path(settings.data_dir))
        self.calendar = Calendar(settings)  # the deadline policy and calendar, for the pages to say what they count with
        self.limiter = LoginLimiter()
        self.contacts = Contacts(self.connection, settings.keys_path, unseal, self.accounts)
        self.hearing: asyncio.Task[Subscription] | None = None

    async def connection(self) -> nats.NATS:
        if self.probe.nc is None:
            return await self.probe.connect()
        return self.probe.nc

    async def hear_the_projector(self) -> Subscription:
        """Hand the projector's announcements of the dashboard read model's position to the read
        side (projections/readside.py): a remembered answer then costs no query. Waits for NATS
        (the connection retries until the server is up); the subscription outlives reconnects.
        The event index is not announced: nothing of it is remembered per position."""
        async def heard(msg: Any) -> None:
            try:
                self.read.announced(decode_read_model(msg.data))
            except msgspec.DecodeError as e:  # only the projector may publish here: not expected
                log.warning("unreadable read-model announcement (%s)", e)

        return await (await self.connection()).subscribe(status_subject(DASHBOARD_STATUS_KEY), cb=heard)

    async def _start_hearing(self) -> None:
        self.hearing = asyncio.create_task(self.hear_the_projector())
        self.hearing.add_done_callback(_unheard)

    async def _stop_hearing(self) -> None:
        if self.hearing is not None and not self.hearing.done():
            self.hearing.cancel()  # still waiting for NATS
            await asyncio.gather(self.hearing, return_exceptions=True)

    async def _close_reads(self) -> None:
        """The read sides' connections (the versions', each worker thread's), closed with the app."""
        self.read.close()
        self.events.close()

    def read_model_position(self) -> int | None:
        """The dashboards' position; None if it cannot be read (not built, PostgreSQL down...).
        Upgrading is let through: health says so (dashboards/health.py read_model_upgrading)."""
        try:
            return self.read.dashboards().position()
        except Upgrading:
            raise
        except Exception:
            return None

    def app(self, routes: Sequence[ControllerRouterHandler] = (), dependencies: Mapping[str, Provide] | None = None) -> Litestar:
        """The app: health, metrics, the dashboards' API, then `routes`, then the pages."""
        probe, read, calendar = self.probe, self.read, self.calendar

        # Anyone gets {status, reasons}; an account's token that reads every unit gets every field.
        @get("/healthz", opt=PUBLIC, security=OPTIONAL_READER,
             responses={200: ResponseSpec(Health, description="ok", generate_examples=False),
                        503: ResponseSpec(Health, description="Not ok: the reason codes say why", generate_examples=False)},
             summary="Status and reason codes; with a machine token, streams and lags too")
        async def healthz(request: Request) -> Response[Any]:
            health = await probe.check()  # every rule, the ledger alarm and intake gaps included (dashboards/health.py)
            code = 200 if health.status == "ok" else 503
            account = request.scope.get("user")
            if not (request.scope.get("auth") == "token" and account is not None and account.everything):
                return Response({"status": health.status, "reasons": reasons(health)}, status_code=code)
            return Response(health, status_code=code)

        @get("/metrics", media_type=MediaType.TEXT, opt={"machine": True}, summary="Prometheus metrics (a machine token)")
        async def prometheus() -> str:
            return await metrics.render(probe)

        @get("/openapi.json", include_in_schema=False, opt=PUBLIC)  # the API's description holds no data
        async def openapi(request: Request) -> dict[str, Any]:
            return complete(request.app)

        secure = self.settings.web_secure_cookies
        own_auth = Router(path="/", route_handlers=list(routes), opt=PUBLIC)  # gateway tokens, Open311 api_key
        return Litestar(
            route_handlers=[healthz, prometheus, openapi, DashboardController, DeadlineController, RejectionsController, subject_route,
                            contact_route(self.contacts), *login_routes(self.accounts, self.limiter, secure, SECURITY_HEADERS), own_auth,
                            web_pages(read)],
            dependencies={"read": Provide(lambda: read, sync_to_thread=False),
                          "calendar": Provide(lambda: calendar, sync_to_thread=False),
                          "events": Provide(lambda: self.events, sync_to_thread=False), **(dependencies or {})},
            middleware=[DefineMiddleware(Authenticate, accounts=self.accounts, demo_viewer=self.settings.demo_viewer)],
            guards=[guard],
            exception_handlers={HTTPException: problem, ValidationException: invalid_params, Invalid: invalid_params,
                                NotBuilt: not_built, Upgrading: upgrading},
            on_startup=[self._start_hearing],
            on_shutdown=[self._stop_hearing, probe.close, self._close_reads],
            before_send=[allow_every_method],
            # JSON only: Litestar's documentation pages (Swagger, Redoc...) load their scripts from a CDN,
            # and these machines are offline. The document is also at /openapi.json.
            openapi_config=OpenAPIConfig(title="civic-ledger", version="0.1.0", render_plugins=[CompletedJson()], components=COMPONENTS,
                                         openapi_router=Router(path="/schema", route_handlers=[], opt=PUBLIC, include_in_schema=False),
                                         description="Dashboards of the grassroots governance ledger. KPI definitions: docs/kpis.md."),
        )
