"""The web role's Litestar app: health now; the dashboards' API grows here."""

from __future__ import annotations

from litestar import Litestar, get
from litestar.response import Response

from dashboards.health import Health, HealthProbe


def create_app(nats_url: str) -> Litestar:
    probe = HealthProbe(nats_url)

    @get("/healthz")
    async def healthz() -> Response[Health]:
        health = await probe.check()
        return Response(health, status_code=200 if health.status == "ok" else 503)

    return Litestar(route_handlers=[healthz], on_shutdown=[probe.close], openapi_config=None)
