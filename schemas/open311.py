"""Open311 GeoReport v2 on the wire, shared by its write side (producers/open311.py: POST
requests) and its read side (dashboards/open311.py: services and GET requests).

JSON or XML, as the path's extension asks; errors as a list of {code, description}, with the
code as the HTTP status. Pure bytes: the controllers wrap them in their framework's response.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, NamedTuple

import msgspec

REQUEST_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url")
"""A service request's fields, in the spec's order."""


class Open311Error(Exception):
    def __init__(self, code: int, description: str):
        self.code, self.description = code, description


class Document(NamedTuple):
    content: bytes
    status: int
    media_type: str


def render(path: str, body: list[dict[str, Any]], status: int = 200, root: str = "", item: str = "") -> Document:
    """The body as JSON, or as XML <root><item>...</item></root> when the path ends in .xml."""
    if path.endswith(".xml"):
        element = ET.Element(root)
        for entry in body:
            child = ET.SubElement(element, item)
            for key, value in entry.items():
                if key == "keywords" and isinstance(value, list):
                    value = ",".join(value)
                ET.SubElement(child, key).text = "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        return Document(ET.tostring(element, encoding="utf-8", xml_declaration=True), status, "text/xml; charset=utf-8")
    return Document(msgspec.json.encode(body), status, "application/json; charset=utf-8")


def error(path: str, e: Open311Error) -> Document:
    """The spec's error list, with the error's code as the status."""
    return render(path, [{"code": e.code, "description": e.description}], e.code, "errors", "error")
