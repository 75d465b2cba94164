"""A flask-smorest Blueprint that can read a multipart body's fields and files as one schema.

flask-smorest documents one request body per operation, and webargs reads form fields and
files from separate locations; a report is one multipart request carrying both, so this
adds a ``multipart`` location that merges them and documents it as multipart/form-data.
"""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict


class MultipartParser(FlaskParser):
    """webargs parser with a ``multipart`` location: form fields and files together."""

    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}

    def load_multipart(self, req: Any, schema: Any) -> Any:
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = MultipartParser()
    DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {
        **Blueprint.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
        "multipart": "multipart/form-data",
        # Documented as JSON, the main form; a form-encoded body is read the same way.
        "json_or_form": "application/json",
    }
