"""The web's HTTP contract as an outsider reads it: /openapi.json.

Litestar writes the document from the handlers: parameters (types, formats, enums), request
bodies, success answers and the error answers each handler declares (`responses=problems(...)`).
`complete` then adds, in this one place, what follows from rules that live elsewhere and that
Litestar cannot see from one handler:

- the guard (dashboards/auth.py): a handler that is not public needs a signed-in reader (401,
  security: the session cookie or an account's bearer token); `machine` handlers need an
  account's bearer token, `access_log` ones an auditor or admin (403). Derived from the same
  `opt` the guard reads, so the document cannot drift from what is enforced;
- Litestar's own parameter validation, which it documents as 400: this app answers it 422
  ({detail, field}: dashboards/api.invalid_params), except where a handler declares its own 400
  (Open311 answers the spec's error list);
- the read model: a handler that reads it answers 503 until its first build (app.not_built) and
  while it is rewritten to a newer layout (app.upgrading, with Retry-After);
- the body of a route that reads it raw (the gateway's POST /v1/events: each event decoded on its
  own, nesting checked before any parser), named in `opt["body"]`: the wire events' schemas
  (schemas/export.py, the files `civic schema export` writes);
- the formats of Open311's `{file}` routes, JSON or XML by the path's extension (Litestar gives
  one success media type per handler): such a handler lists them in `opt["formats"]`.
"""

from __future__ import annotations

import copy
from typing import Any

import msgspec
from litestar import Litestar
from litestar.openapi.spec import Components, SecurityScheme
from litestar.routes import HTTPRoute

from adapters.http import MEANING, READER, SESSION_COOKIE, Problem
from schemas.export import openapi_events


COMPONENTS = Components(security_schemes={
    "session": SecurityScheme(type="apiKey", name=SESSION_COOKIE, security_scheme_in="cookie",
                              description="Set by POST /login; HttpOnly, SameSite=Lax."),
    "bearer": SecurityScheme(type="http", scheme="bearer",
                             description="An account's token: `civic users token NAME`."),
    "gatewayToken": SecurityScheme(type="http", scheme="bearer",
                                   description="An upstream system's token for the ingest gateway: `civic gateway token SYSTEM --org ORG`."),
})

_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


def _problem(code: int) -> dict[str, Any]:
    return {"description": MEANING[code], "content": {"application/json": {"schema": _PROBLEM_REF}}}


def complete(app: Litestar) -> dict[str, Any]:
    """The app's OpenAPI document with the derived parts above; built once per app."""
    cached: dict[str, Any] | None = app.state.get("openapi_document")
    if cached is not None:
        return cached
    doc = copy.deepcopy(app.openapi_schema.to_schema())
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", _problem_schema())
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in handler.http_methods:
                operation = doc["paths"].get(route.path_format, {}).get(method.lower())
                if operation is not None:
                    _derive(operation, handler, schemas)
    app.state["openapi_document"] = doc
    return doc


def _derive(operation: dict[str, Any], handler: Any, schemas: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    opt, declared = handler.opt, handler.responses or {}
    if opt.get("public"):
        operation.setdefault("security", [{}])  # open to anyone, unless it said more (Open311's reads, the gateway)
    else:
        operation["security"] = [{"bearer": []}] if opt.get("machine") else READER
        responses.setdefault("401", _problem(401))
        if opt.get("machine") or opt.get("access_log"):
            responses.setdefault("403", _problem(403))
    if "400" in responses and 400 not in declared:
        del responses["400"]  # Litestar's validation error, which this app answers 422
        responses.setdefault("422", _problem(422))
    if "read" in handler.parsed_fn_signature.parameters:
        responses.setdefault("503", _problem(503))
    if opt.get("body"):
        media_type, what, max_items = opt["body"]
        assert what == "events", what  # the one raw body there is
        components, body = openapi_events(max_items)
        for name, schema in components.items():
            schemas.setdefault(name, schema)
        operation["requestBody"] = {"required": True, "content": {media_type: {"schema": body}},
                                    "description": f"One event, or an array of up to {max_items}"}
    formats = opt.get("formats")
    if formats:
        for response in responses.values():
            content = response.get("content") or {}
            if "application/json" in content and content["application/json"].get("schema") != _PROBLEM_REF:
                for media_type in formats:
                    content.setdefault(media_type, {"schema": {"type": "string", "description": "The same answer as XML"}})


def _problem_schema() -> dict[str, Any]:
    schema: dict[str, Any] = msgspec.json.schema(Problem, ref_template="#/components/schemas/{name}")
    return schema["$defs"]["Problem"] if "$defs" in schema else schema
