"""Authentication before argument parsing, for the operations the OpenAPI document secures.

A view reads its arguments (webargs, 422 on bad input) before its body can ask for the
caller, so an anonymous request with bad arguments used to get a 422 where the document
promises a 401, and learned which inputs an endpoint takes. The document is the list:
every operation it marks with ``security`` authenticates first, whatever its decorators.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, request

from ticketing.api.context import actor
from ticketing.extensions import EnvelopeApi

FLASK_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def install(app: Flask, api: EnvelopeApi) -> None:
    """Make the operations that `api`'s document secures answer 401 before anything else.

    Call it once every blueprint is registered: the list is read from the document then.
    """
    secured = _secured_operations(api.spec.to_dict())

    @app.before_request
    def _authenticate_first() -> None:
        rule = request.url_rule
        if rule is None or request.method == "OPTIONS":
            return
        method = "GET" if request.method == "HEAD" else request.method
        if (FLASK_ARGUMENT.sub(r"{\1}", rule.rule), method) in secured:
            actor()


def _secured_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """(OpenAPI path, METHOD) of every operation that needs a security scheme."""
    default = document.get("security") or []
    return {
        (path, method.upper())
        for path, item in document.get("paths", {}).items()
        for method, operation in item.items()
        if isinstance(operation, dict) and operation.get("security", default)
    }
