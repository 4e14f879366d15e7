"""The web role's Litestar app: health, metrics, the dashboards' API and its OpenAPI document."""

from __future__ import annotations

from litestar import Litestar, MediaType, Request, get
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.response import Response

from civic.settings import Settings
from dashboards import metrics
import nats

from dashboards.api import DashboardController, Invalid, ReadSide, invalid_params, read_side
from dashboards.health import Health, HealthProbe
from dashboards.open311 import Open311ReadController
from dashboards.pages import web_pages
from producers.gateway import Gateway, GatewayController, Tokens, tokens_path
from producers.open311 import Open311Controller
from projections.readside import NotBuilt
from projections import event_index
from projections.store import Versions


class Open311(Open311Controller, Open311ReadController):
    """Open311's write side (producers) and read side (dashboards) share paths (/requests.json:
    POST and GET), and two Litestar controllers cannot (each adds its own OPTIONS handler to the
    path): one controller class with the handlers of both."""


def not_built(_: Request, exc: Exception) -> Response[dict[str, str]]:
    return Response({"detail": str(exc)}, status_code=503)


def create_app(settings: Settings) -> Litestar:
    probe = HealthProbe(settings.resolved_nats_url())
    read = read_side(settings.data_dir, settings.database_url, settings.timezone)
    events = ReadSide(Versions(event_index.NAME, settings.data_dir, settings.database_url), read.clock)

    async def connection() -> nats.NATS:
        if probe.nc is None:
            await probe.connect()
        return probe.nc  # type: ignore[return-value]

    gateway = Gateway(Tokens(tokens_path(settings.data_dir)), connection, events.db)

    def read_model_position() -> int | None:
        try:
            return read.dashboards().position()
        except Exception:
            return None

    @get("/healthz", summary="NATS connected, streams present, consumers' lag")
    async def healthz() -> Response[Health]:
        health = await probe.check()
        position = read_model_position()
        if position is not None and health.streams:
            health.dashboard_lag = max(0, health.streams[1].last_sequence - position)
        return Response(health, status_code=200 if health.status == "ok" else 503)

    @get("/metrics", media_type=MediaType.TEXT, summary="Prometheus metrics")
    async def prometheus() -> str:
        return await metrics.render(probe, read_model_position())

    @get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> dict:  # type: ignore[type-arg]
        return request.app.openapi_schema.to_schema()

    return Litestar(
        route_handlers=[healthz, prometheus, openapi, DashboardController, GatewayController, Open311, web_pages(read)],
        dependencies={"read": Provide(lambda: read, sync_to_thread=False), "gateway": Provide(lambda: gateway, sync_to_thread=False)},
        exception_handlers={ValidationException: invalid_params, Invalid: invalid_params, NotBuilt: not_built},
        on_shutdown=[probe.close],
        # JSON only: Litestar's documentation pages (Swagger, Redoc...) load their scripts from a CDN,
        # and these machines are offline. The document is also at /openapi.json.
        openapi_config=OpenAPIConfig(title="civic-ledger", version="0.1.0", render_plugins=[JsonRenderPlugin()],
                                     description="Dashboards of the grassroots governance ledger. KPI definitions: docs/kpis.md."),
    )
