"""The web role's app, composed: the dashboards' routes (dashboards/app.py) with the producers'
gateway and Open311 routes, sharing one NATS connection and the event index."""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide

from config import Settings
from dashboards.app import Web
from producers.gateway import Gateway, GatewayController, Tokens, tokens_path
from producers.open311 import Open311Controller


def create_app(settings: Settings) -> Litestar:
    web = Web(settings)
    gateway = Gateway(Tokens(tokens_path(settings.data_dir)), web.connection, web.events.db)
    return web.app(routes=[GatewayController, Open311Controller],
                   dependencies={"gateway": Provide(lambda: gateway, sync_to_thread=False)})
