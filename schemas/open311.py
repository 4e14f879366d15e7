"""Open311 GeoReport v2 on the wire, shared by its write side (producers/open311.py: POST
requests) and its read side (dashboards/open311.py: discovery, services and GET requests).

The answers' shapes are msgspec Structs, so the web's OpenAPI document describes them and the JSON
answers are their encoding; XML, as the spec asks where the path ends in .xml, is the same value
as elements: a list becomes the plural element holding one singular element per entry
(<attributes><attribute>...), a bool is true/false, None an empty element. Errors are a list of
{code, description}, with the code as the HTTP status. Pure bytes: the controllers wrap them in
their framework's response (which adds the charset to text/xml: it is not repeated here).
Spec: http://wiki.open311.org/GeoReport_v2 and http://wiki.open311.org/Service_Discovery.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Literal, NamedTuple

import msgspec

from schemas.base import Latitude, Longitude

JSON = "application/json"
XML = "text/xml"
SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"


class Service(msgspec.Struct, frozen=True):
    """A service type: here a ticket category (schemas/categories.py)."""

    service_code: str
    service_name: str
    description: str
    metadata: bool
    """True when the service has attributes to ask for (GET services/{code} then lists them)."""
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    """Comma-separated, as the spec has it."""
    group: str


class AttributeValue(msgspec.Struct, frozen=True):
    key: str
    name: str


class ServiceAttribute(msgspec.Struct, frozen=True):
    """One more question a service asks when a request is raised (none of ours does yet)."""

    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str
    order: int
    description: str
    values: list[AttributeValue] = []


class ServiceDefinition(msgspec.Struct, frozen=True):
    service_code: str
    attributes: list[ServiceAttribute]


class ServiceRequest(msgspec.Struct, frozen=True):
    """A service request (a ticket) in the spec's fields and order."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    """W3C datetime with an offset, as every datetime here."""
    updated_datetime: str | None
    expected_datetime: str | None
    address: str | None
    """The reporter's address_string is personal data: sealed, never in an Open311 answer."""
    address_id: str | None
    zipcode: str | None
    lat: Latitude | None
    long: Longitude | None
    media_url: str | None


class RequestCreated(msgspec.Struct, frozen=True):
    """POST requests: the new request's id and what happens next."""

    service_request_id: str
    service_notice: str
    account_id: str | None = None


class Open311ErrorItem(msgspec.Struct, frozen=True):
    code: int
    """The HTTP status."""
    description: str


class Endpoint(msgspec.Struct, frozen=True):
    specification: str
    url: str
    changeset: str
    type: Literal["production", "test"]
    formats: list[str]


class Discovery(msgspec.Struct, frozen=True):
    """Service discovery: where the GeoReport v2 endpoint is, what it speaks, whom to ask."""

    changeset: str
    contact: str
    key_service: str
    endpoints: list[Endpoint]


class Open311Error(Exception):
    def __init__(self, code: int, description: str):
        super().__init__(description)
        self.code, self.description = code, description


class Document(NamedTuple):
    content: bytes
    status: int
    media_type: str


PLURALS = {"services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
           "values": "value", "endpoints": "endpoint", "formats": "format"}
"""An XML list element -> the element of each entry (the spec's names)."""


def _element(parent: ET.Element, tag: str, value: Any) -> None:
    child = ET.SubElement(parent, tag)
    if isinstance(value, dict):
        for key, inner in value.items():
            _element(child, key, inner)
    elif isinstance(value, list):
        for inner in value:
            _element(child, PLURALS[tag], inner)
    elif value is not None:
        child.text = str(value).lower() if isinstance(value, bool) else str(value)


def to_xml(root: str, value: Any) -> bytes:
    """`value` (Structs, lists, dicts, scalars) as the spec's XML under <root>, declaration included."""
    element = ET.Element(root)
    builtins = msgspec.to_builtins(value)
    if isinstance(builtins, dict):
        for key, inner in builtins.items():
            _element(element, key, inner)
    else:  # a list at the root: each entry is an element
        for entry in builtins:
            _element(element, PLURALS[root], entry)
    # The spec asks for encoding="UTF-8" in the declaration (ElementTree would write 'utf-8').
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element, encoding="unicode").encode()


def render(path: str, value: Any, root: str, status: int = 200) -> Document:
    """The answer as JSON, or as XML under <root> when the path ends in .xml."""
    if path.endswith(".xml"):
        return Document(to_xml(root, value), status, XML)
    return Document(msgspec.json.encode(value), status, f"{JSON}; charset=utf-8")  # the spec's header, as for XML


def error(path: str, e: Open311Error) -> Document:
    """The spec's error list, with the error's code as the status."""
    return render(path, [Open311ErrorItem(e.code, e.description)], "errors", e.code)
