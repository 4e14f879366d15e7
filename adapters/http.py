"""What the web role's routes of every package share about HTTP answers, so the dashboards'
routes and the producers' (gateway, Open311 POST) describe and answer errors alike:

- `Problem`, the body of every error answer but Open311's, and `problems(...)`, the Litestar
  response specs that put it in /openapi.json (dashboards/contract.py completes the document);
- the security requirements a route declares (the schemes: dashboards/contract.py);
- Open311's answers in Litestar's terms: a schemas.open311 Document as a response, the spec's
  error list for the document, and Litestar's validation errors as the spec's 400.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import QueryParameter
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

from schemas.open311 import JSON, XML, Document, Open311Error, Open311ErrorItem, error

SESSION_COOKIE = "civic_session"


class Problem(msgspec.Struct, omit_defaults=True, kw_only=True):
    """An error answer (every status but Open311's, which answer the spec's error list)."""

    status_code: int | None = None
    detail: str
    """What went wrong, as a sentence."""
    field: str | None = None
    """The parameter or body field at fault (422)."""
    extra: dict[str, Any] | list[Any] | None = None


MEANING = {
    400: "The request body cannot be read (not JSON, or nested too deeply)",
    401: "Not signed in: sign in at /login (session cookie) or send a bearer token",
    403: "Signed in, but this account or token may not do this",
    404: "Unknown, or outside the reader's scope (answered alike)",
    413: "The request is too large",
    422: "A parameter is not valid; `field` names it",
    429: "Too many failed sign-ins; wait for Retry-After seconds",
    503: "Not available yet: the read model is being built or upgraded (then with Retry-After), or NATS is unreachable",
}


def problems(*codes: int, **meanings: str) -> dict[int, ResponseSpec]:
    """Litestar response specs for these error statuses, each with the Problem body;
    `meanings` (e.g. s404="...") overrides a status's sentence for one route."""
    return {code: ResponseSpec(Problem, description=meanings.get(f"s{code}", MEANING[code]), generate_examples=False)
            for code in codes}


READER: list[dict[str, list[str]]] = [{"session": []}, {"bearer": []}]
"""A signed-in reader: the session cookie (the pages) or an account's bearer token (machines)."""
OPTIONAL_READER: list[dict[str, list[str]]] = [{}, *READER]
"""Open to anyone; a signed-in reader gets more (Open311's reads, /healthz)."""
NONE: list[dict[str, list[str]]] = [{}]
"""Open to anyone, the same for everyone (discovery; Open311's POST carries its api_key in the form)."""
GATEWAY: list[dict[str, list[str]]] = [{"gatewayToken": []}]
"""An upstream system's bearer token (`civic gateway token`): the gateway checks it itself."""


Since = Annotated[str | None, QueryParameter(format="date-time", description="From this instant on (ISO 8601 with an offset)")]
"""A listing's start (its routes pass the text to the query, which parses and checks it once)."""
Until = Annotated[str | None, QueryParameter(format="date-time", description="Before this instant (ISO 8601 with an offset)")]


def problem(_: Request, exc: HTTPException) -> Response[Problem]:
    """Every HTTP error as JSON. Litestar's own handler labels the body with the route's media
    type: a 401 on the CSV export came as `text/csv` holding JSON."""
    extra = exc.extra if isinstance(exc.extra, dict | list) and exc.extra else None
    return Response(Problem(status_code=exc.status_code, detail=exc.detail, extra=extra), status_code=exc.status_code, headers=exc.headers,
                    media_type="application/json")


async def allow_every_method(message: Message, scope: Scope) -> None:
    """A `before_send` hook that makes OPTIONS answer every method of its path in `Allow`.

    Litestar 2 (issue litestar-org/litestar#4169, fixed in v3 only) builds a path's OPTIONS answer
    from the methods registered when the path was first seen: where handlers of one path come from
    two places (Open311's read and write sides share /requests.json), `Allow` missed some."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    paths = getattr(scope.get("route_handler"), "paths", None) or ()
    routes = [r for r in scope["app"].routes if isinstance(r, HTTPRoute) and r.path in paths]
    if routes:
        allow = ", ".join(sorted(routes[0].methods)).encode()
        message["headers"] = [(k, allow if k.lower() == b"allow" else v) for k, v in message.get("headers", [])]


# -- Open311 ---------------------------------------------------------------------------------------

def respond(doc: Document) -> Response[Any]:
    """The document as it is (Litestar adds the charset to text/xml); the handlers' annotations
    say what it holds, for /openapi.json."""
    return Response(doc.content, status_code=doc.status, media_type=doc.media_type)


def open311_errors(*codes: int, xml: bool = False) -> dict[int, ResponseSpec]:
    """The spec's error list for these statuses, in JSON or XML."""
    return {code: ResponseSpec(list[Open311ErrorItem], description="The spec's error list; code = the HTTP status",
                               media_type=XML if xml else JSON, generate_examples=False) for code in codes}


def open311_invalid(request: Request, exc: Exception) -> Response[Any]:
    """Litestar's validation errors (a parameter or form field of the wrong shape) as the spec's 400."""
    extra = getattr(exc, "extra", None) or []
    where = ", ".join(str(e.get("key")) for e in extra if isinstance(e, dict) and e.get("key")) if isinstance(extra, list) else ""
    detail = str(getattr(exc, "detail", exc))
    return respond(error(request.url.path, Open311Error(400, f"{where}: {detail}" if where else detail)))
