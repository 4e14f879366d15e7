"""The web role's app, composed: the dashboards' routes (dashboards/app.py) with the producers'
gateway and Open311 write routes and the dashboards' Open311 read routes, sharing one NATS
connection and the event index."""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide

from config import Settings
from dashboards.app import Web
from domain.personal import unseal
from dashboards.open311 import Open311ReadController
from dashboards.masking import mask
from producers.gateway import Gateway, GatewayController, RejectionsController, Tokens, tokens_path
from producers.open311 import Open311Controller


class Open311(Open311Controller, Open311ReadController):
    """Open311's write side (producers) and read side (dashboards) share paths (/requests.json:
    POST and GET), and two Litestar controllers cannot (each adds its own OPTIONS handler to the
    path): one controller class with the handlers of both."""


def create_app(settings: Settings) -> Litestar:
    web = Web(settings, unseal=unseal)  # the web unseals a reporter's contact for one view (dashboards/contacts.py)
    gateway = Gateway(Tokens(tokens_path(settings.data_dir)), web.connection, web.events.db, mask, spool_dir=settings.data_dir)
    return web.app(routes=[GatewayController, RejectionsController, Open311],
                   dependencies={"gateway": Provide(lambda: gateway, sync_to_thread=False)})
