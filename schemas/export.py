"""The wire contract as files other languages can read: JSON Schema per event, one AsyncAPI doc.

`export(DIR)` (the `civic schema export DIR` command) writes `<Type>.schema.json` for every
event type, each standing alone (its shared parts under `$defs`), and `asyncapi.json`, an
AsyncAPI 3.0 document for the three streams whose messages reference those files.
Rules for changing the contract: docs/schema-evolution.md. Only msgspec and the stdlib here.
"""

from __future__ import annotations

import inspect
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import msgspec

from schemas import rejected
from schemas import topology
from schemas.intake import CURRENT_VERSION, EVENTS_BY_TYPE, MAX_EVENT_BYTES

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ID_PREFIX = "urn:civic-ledger:schema:"
ASYNCAPI = "asyncapi.json"

# Envelope fields whose meaning lives in attribute docstrings, which msgspec cannot see.
ENVELOPE = {
    "schema_version": "The version of this type's shape; this schema is the current one. Always write it: absent means 1.",
    "personal": "Clear personal data, as producers send it: the only place personal data may appear. Empty once stored.",
    "sealed": "Written by the ledger only (`personal`, sealed per resident). Producers must leave it empty.",
    "org_path": "Written by the ledger only: org ids from root to `org_id` at acceptance. Producers must leave it empty.",
}


def _doc(cls: type) -> str:
    """The class docstring, dedented; for an undocumented type, a line naming it and its family."""
    if cls.__doc__:
        return inspect.cleandoc(cls.__doc__)
    family = inspect.cleandoc(sys.modules[cls.__module__].__doc__ or "").split("\n")[0]
    return f"The {cls.__name__} event. {family}".strip()


def event_schema(tag: str) -> dict[str, Any]:
    """One event type's JSON Schema (draft 2020-12), self-contained: `#/$defs/...` refs only."""
    cls, version = EVENTS_BY_TYPE[tag], CURRENT_VERSION[tag]
    generated = msgspec.json.schema(cls)  # {"$ref": "#/$defs/<tag>", "$defs": {...}}
    defs = generated["$defs"]
    for part in defs.values():  # msgspec keeps docstrings' source indentation
        if "description" in part:
            part["description"] = inspect.cleandoc(part["description"])
    body = defs.pop(tag)  # hoisted to the root, so the file is the event itself
    for name, text in ENVELOPE.items():
        body["properties"][name]["description"] = text
    # The schema describes the current shape only: pin its version, and require it whenever
    # leaving it out (= version 1) would ask for an older shape the ledger upcasts.
    body["properties"]["schema_version"]["const"] = version
    if version > 1:
        body["required"].append("schema_version")
    head = {"$schema": DRAFT, "$id": f"{ID_PREFIX}{tag}:v{version}", "title": tag, "description": _doc(cls)}
    return {**head, **{k: v for k, v in body.items() if k not in head}, **({"$defs": defs} if defs else {})}


def _headers(fields: dict[str, str], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """A headers schema: NATS header values are strings."""
    props = {name: {"type": "string", "description": text} for name, text in fields.items()}
    return {"type": "object", "properties": props, "required": list(required)}


INTAKE_HEADERS = _headers({"Nats-Msg-Id": ("The event's `event_id`: JetStream drops a resend within its duplicate window. The "
                                           "clock's events add `@` and the org path they were published at (a resend after "
                                           "the unit moved is a new message; the ledger still keeps one event).")},
                          ("Nats-Msg-Id",))
LEDGER_HEADERS = _headers({
    topology.POSITION_HEADER: f"The ledger position n, in decimal; equal to the {topology.LEDGER} stream sequence.",
    topology.HASH_HEADER: "h(n), the chain hash up to and including this event, as 64 lowercase hex digits.",
    topology.NOTIFICATION_ID_HEADER: "The event store's notification id, in decimal; the relay resumes from the last one published.",
    topology.EVENT_ID_HEADER: "The event's `event_id`.",
    "Nats-Expected-Last-Sequence": "n - 1: JetStream stores position n only right after n - 1, so positions never skip or repeat.",
    "Nats-Msg-Id": f"Not set on {topology.LEDGER}: the expected-last-sequence check, not deduplication, keeps each event at one position.",
}, (topology.POSITION_HEADER, topology.HASH_HEADER, topology.NOTIFICATION_ID_HEADER, topology.EVENT_ID_HEADER))
REASON_LIST = "\n".join(
    f"- `{r.code}`: {r.sentence}" + (" A corrected event with a new event_id may be accepted." if r.resend_may_help else "")
    for r in rejected.REASONS.values())
REJECTED_HEADERS = _headers({
    topology.REASON_HEADER: "The reason code, one of:\n" + REASON_LIST,
    topology.REASON_TEXT_HEADER: "What exactly was wrong with this message, on one line (at most 1000 characters).",
    topology.FIELD_HEADER: "The offending field's path (e.g. `actor.role`), when known.",
    topology.INTAKE_SEQUENCE_HEADER: f"The {topology.INTAKE} stream sequence of the refused message, in decimal.",
    topology.INTAKE_SUBJECT_HEADER: "The subject the message was published on.",
    topology.EVENT_ID_HEADER: "The `event_id`, when the message could be read that far.",
    "Nats-Msg-Id": "`intake-<intake sequence>`, so a rejection republished after a crash is stored once.",
}, (topology.REASON_HEADER, topology.REASON_TEXT_HEADER, topology.INTAKE_SEQUENCE_HEADER, topology.INTAKE_SUBJECT_HEADER, "Nats-Msg-Id"))
REJECTED_HEADERS["properties"][topology.REASON_HEADER]["enum"] = list(rejected.REASONS)

ABOUT = ("Events published to NATS JetStream, checked by a ledger and hash-chained. Payloads are JSON, "
         "one JSON Schema per event type; evolution rules: docs/schema-evolution.md.")
ORG_PATH = "The org ids from the root unit down to the event's `org_id`, dot-separated (several subject tokens)."
CHAIN = ("Chain: h(0) = 32 zero bytes; h(n) = SHA-256(h(n-1) || n as 8 bytes big-endian || SHA-256(stored bytes)), "
         "where the stored bytes are this message's body, verbatim. Anyone holding the messages can recompute it.")


def _message(tag: str, headers: dict[str, Any], stage: str) -> dict[str, Any]:
    # A plain $ref (default AsyncAPI schema format): AsyncAPI tools know no 2020-12 schemaFormat,
    # and the files use no keyword that draft-07 would read differently (tests check this).
    summary = _doc(EVENTS_BY_TYPE[tag]).split("\n")[0]
    return {"name": tag, "title": f"{tag} ({stage})", "summary": summary, "contentType": "application/json",
            "headers": headers, "payload": {"$ref": f"{tag}.schema.json"}}


def _ref(message: str) -> dict[str, str]:
    return {"$ref": f"#/components/messages/{message}"}


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document: three channels, one message per event type on the first two."""
    tags = list(EVENTS_BY_TYPE)
    params = {"type": {"enum": tags, "description": "The event's `type`."}, "orgPath": {"description": ORG_PATH}}
    messages = {**{t: _message(t, INTAKE_HEADERS, "intake") for t in tags},
                **{f"Ledger{t}": _message(t, LEDGER_HEADERS, "ledger") for t in tags},
                "Rejected": {"name": "Rejected", "title": "A refused message", "contentType": "application/octet-stream",
                             "headers": REJECTED_HEADERS, "payload": {"type": "string", "format": "binary",
                             "description": "The bytes exactly as the producer sent them (perhaps not JSON, nor UTF-8)."}}}
    channels = {
        topology.INTAKE: {"address": topology.subject("intake", "{type}", ["{orgPath}"]), "parameters": params, "title": "Intake",
                         "description": f"Events as producers send them, at most {MAX_EVENT_BYTES} bytes. "
                                        f"The ledger checks each one and accepts it into {topology.LEDGER} or refuses it to {topology.REJECTED}.",
                         "messages": {t: _ref(t) for t in tags}},
        topology.LEDGER: {"address": topology.ledger_subject("{type}", ["{orgPath}"]), "parameters": params, "title": "Ledger",
                         "description": "Accepted events in order; the body is the event's stored bytes verbatim "
                                        "(`personal` sealed into `sealed`, `org_path` filled in). " + CHAIN,
                         "messages": {t: _ref(f"Ledger{t}") for t in tags}},
        topology.REJECTED: {"address": topology.REJECTED_SUBJECTS, "title": "Rejected",
                            "description": "Refused messages, with the reason in the headers. Subject: "
                                           f"`{topology.REJECTED_PREFIX}<reason code>.` followed by the intake subject's tokens "
                                           f"after `{topology.INTAKE_PREFIX}`.",
                           "messages": {"Rejected": _ref("Rejected")}},
    }
    operations = {f"{verb}{name.title().replace('_', '')}": {"action": verb, "channel": {"$ref": f"#/channels/{name}"}}
                  for verb, name in (("send", topology.INTAKE), ("receive", topology.LEDGER), ("receive", topology.REJECTED))}
    try:
        version = metadata.version("civic-ledger")
    except metadata.PackageNotFoundError:
        version = "0"
    return {"asyncapi": "3.0.0",
            "info": {"title": "civic-ledger", "version": version, "description": ABOUT},
            "defaultContentType": "application/json", "channels": channels, "operations": operations,
            "components": {"messages": messages}}


def openapi_events(max_items: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The events as OpenAPI 3.1 components, for the web's HTTP ingest (POST /v1/events): each
    type's schema as `event_schema` gives it, its shared parts beside it (`#/$defs/X` becomes
    `#/components/schemas/X`), and the body: one event, or an array of them. More than `max_items`
    is well-formed but too large (413): the limit is in the description, not a schema bound."""
    components: dict[str, Any] = {}
    for tag in EVENTS_BY_TYPE:
        schema = event_schema(tag)
        defs = schema.pop("$defs", {})
        schema.pop("$schema"), schema.pop("$id")
        components.update(defs)
        components[tag] = schema
    components = json.loads(json.dumps(components).replace('"#/$defs/', '"#/components/schemas/'))
    one = {"oneOf": [{"$ref": f"#/components/schemas/{tag}"} for tag in EVENTS_BY_TYPE],
           "discriminator": {"propertyName": "type"}}
    body = {"oneOf": [one, {"type": "array", "items": one, "description": f"At most {max_items} events (else 413)"}]}
    return components, body


def _write(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def export(directory: Path) -> list[Path]:
    """Write every event type's JSON Schema and asyncapi.json into `directory`; return the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = [_write(directory / f"{tag}.schema.json", event_schema(tag)) for tag in EVENTS_BY_TYPE]
    return [*written, _write(directory / ASYNCAPI, asyncapi())]
