"""The browsable API page: Swagger UI at /api/v1/docs, reading /api/v1/openapi.json.

flask-smorest renders the page; its scripts and styles come from the ``swagger-ui-bundle``
PyPI package (swagger-ui's own dist), served by the web edge's vendor route
(``/static/vendor/swagger-ui/...``), never from a CDN: the page works offline and the tests
can check it does.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask

PAGE = "docs"  # under OPENAPI_URL_PREFIX: /api/v1/docs
VENDOR_NAME = "swagger-ui"


def configure(app: Flask) -> None:
    """Turn the page on (before ``api.init_app``); a deployment may override either setting."""
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", PAGE)
    # Relative to the page (/api/v1/docs), so it still works when the app is mounted under a prefix.
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", f"../../static/vendor/{VENDOR_NAME}/")
    app.config.setdefault("OPENAPI_SWAGGER_UI_CONFIG", {"deepLinking": True})


def swagger_ui_dir() -> str:
    """The folder of swagger-ui's dist files inside the installed package."""
    import swagger_ui_bundle

    return str(Path(swagger_ui_bundle.swagger_ui_path))
