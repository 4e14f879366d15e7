"""The web role's Litestar app: health, metrics, the dashboards' API and pages, and its OpenAPI
document. Routes of other packages (the producers' gateway and Open311) come in as parameters:
civic/web.py, the composition root, puts them together, so dashboards/ never imports producers/.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


import nats
from litestar import Litestar, MediaType, Request, get
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.response import Response
from litestar.types import ControllerRouterHandler

from config import Settings
from dashboards import metrics
from dashboards.api import DashboardController, Invalid, ReadSide, invalid_params, read_side
from dashboards.health import Health, HealthProbe
from dashboards.pages import web_pages
from projections import event_index
from projections.readside import NotBuilt
from projections.store import Versions



def not_built(_: Request, exc: Exception) -> Response[dict[str, str]]:
    return Response({"detail": str(exc)}, status_code=503)


class Web:
    """What the web role's routes share: the NATS connection (health, and publishing for the
    gateway), the dashboards' read side and the event index."""

    def __init__(self, settings: Settings):
        self.read = read_side(settings.data_dir, settings.database_url, settings.timezone)
        self.probe = HealthProbe(settings.resolved_nats_url(), settings.ledger_alarm_path, settings, self.read_model_position)
        self.events = ReadSide(Versions(event_index.NAME, settings.data_dir, settings.database_url), self.read.clock)

    async def connection(self) -> nats.NATS:
        if self.probe.nc is None:
            return await self.probe.connect()
        return self.probe.nc

    def read_model_position(self) -> int | None:
        try:
            return self.read.dashboards().position()
        except Exception:
            return None

    def app(self, routes: Sequence[ControllerRouterHandler] = (), dependencies: Mapping[str, Provide] | None = None) -> Litestar:
        """The app: health, metrics, the dashboards' API, then `routes`, then the pages."""
        probe, read = self.probe, self.read

        @get("/healthz", summary="ok, degraded or faulty, with reason codes (README: Operations); 503 unless ok")
        async def healthz() -> Response[Health]:
            health = await probe.check()
            return Response(health, status_code=200 if health.status == "ok" else 503)

        @get("/metrics", media_type=MediaType.TEXT, summary="Prometheus metrics")
        async def prometheus() -> str:
            return await metrics.render(probe)

        @get("/openapi.json", include_in_schema=False)
        async def openapi(request: Request) -> dict[str, Any]:
            return request.app.openapi_schema.to_schema()

        return Litestar(
            route_handlers=[healthz, prometheus, openapi, DashboardController, *routes, web_pages(read)],
            dependencies={"read": Provide(lambda: read, sync_to_thread=False), **(dependencies or {})},
            exception_handlers={ValidationException: invalid_params, Invalid: invalid_params, NotBuilt: not_built},
            on_shutdown=[probe.close],
            # JSON only: Litestar's documentation pages (Swagger, Redoc...) load their scripts from a CDN,
            # and these machines are offline. The document is also at /openapi.json.
            openapi_config=OpenAPIConfig(title="civic-ledger", version="0.1.0", render_plugins=[JsonRenderPlugin()],
                                         description="Dashboards of the grassroots governance ledger. KPI definitions: docs/kpis.md."),
        )
