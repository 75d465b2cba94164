"""Open311 GeoReport v2 documents in XML and JSON (anchors.md §b.1).

A document is built once as plain Python (lists of dicts) and rendered either way:
JSON as the spec's bare arrays (the service definition is an object), XML with a
declaration, no namespace, a wrapper element per list, ``true``/``false`` booleans and
empty elements for None. Dates are passed in as W3C strings already (``w3c()``).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any
from xml.etree import ElementTree as ET

from flask import Response

XML = "xml"
JSON = "json"
FORMATS = (XML, JSON)
MIMETYPES = {XML: "text/xml; charset=utf-8", JSON: "application/json; charset=utf-8"}

# The XML element of each list's items: services → service, and so on.
ITEM_TAGS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
    "service_request_updates": "request_update",
}


def w3c(moment: datetime | None) -> str | None:
    """A W3C datetime with an explicit zone (UTC as +00:00 offset written ``Z``), None stays None."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            if isinstance(child, list):
                wrapper = ET.SubElement(element, key)
                tag = ITEM_TAGS.get(key, "item")
                for item in child:
                    _fill(ET.SubElement(wrapper, tag), item)
            else:
                _fill(ET.SubElement(element, key), child)
    else:
        element.text = _text(value)


def to_xml(root: str, document: Any) -> bytes:
    """``document`` under the element ``root``: a list becomes repeated item elements."""
    element = ET.Element(root)
    if isinstance(document, list):
        tag = ITEM_TAGS.get(root, "item")
        for item in document:
            _fill(ET.SubElement(element, tag), item)
    else:
        _fill(element, document)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(element, encoding="utf-8", xml_declaration=False)


def respond(fmt: str, root: str, document: Any, status: int = 200) -> Response:
    """The document as a response in ``fmt``; JSON lists stay bare arrays, as the spec's examples."""
    if fmt == JSON:
        body = json.dumps(document, ensure_ascii=False).encode("utf-8")
    else:
        body = to_xml(root, document)
    return Response(body, status=status, mimetype=MIMETYPES[fmt].split(";")[0], content_type=MIMETYPES[fmt])


class Open311Error(Exception):
    """An error answered in the spec's format: ``errors → error {code, description}`` with the HTTP status."""

    def __init__(self, status: int, description: str, code: str | int | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.code = code if code is not None else status


def error_response(fmt: str, errors: list[Open311Error]) -> Response:
    document = [{"code": e.code, "description": e.description} for e in errors]
    return respond(fmt if fmt in FORMATS else XML, "errors", document, status=errors[0].status)
