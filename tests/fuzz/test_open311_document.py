"""The Open311 document says what the views do: every route, and exactly the parameters each reads."""

from __future__ import annotations

import ast
import inspect
import textwrap

import pytest
from flask import Flask

import ticketing.open311 as views
from ticketing.open311.openapi import PARAMETERS

# The helpers through which the views read a query or form parameter by name.
READERS = {"_arg", "_parse_time", "_positive", "_list"}


def _read_by(view: str) -> set[str]:
    """Names the view reads through the helpers, and the names listed in its code (a tuple it loops over)."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(getattr(views, view))))
    read = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in READERS
        and node.args and isinstance(node.args[0], ast.Constant)
    }
    listed = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    return read | (listed & _documented(view))


def _documented(view: str) -> set[str]:
    return {p.name for p in PARAMETERS[view].params if not p.ignored}


@pytest.mark.parametrize("view", sorted(PARAMETERS))
def test_each_view_reads_exactly_the_parameters_documented(view: str) -> None:
    assert _read_by(view) == _documented(view)


def test_every_route_is_documented_with_its_methods(fuzz_app: Flask) -> None:
    document = fuzz_app.test_client().get("/open311/v2/openapi.json").json
    documented = {(path, method.upper()) for path, item in document["paths"].items() for method in item}
    routes = {
        (rule.rule.replace("<int:", "<").replace("<", "{").replace(">", "}"), method)
        for rule in fuzz_app.url_map.iter_rules()
        if rule.endpoint.startswith("open311.") and rule.endpoint != "open311.openapi"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == routes


def test_a_reader_the_test_does_not_know_would_be_noticed() -> None:
    """The views read parameters only through READERS (else this test's check above sees nothing)."""
    source = inspect.getsource(views)
    assert "request.values" in source
    assert source.count("request.values") == 1  # inside `_arg`, the one place every reader goes through
    assert "request.args" not in source and "request.form" not in source
