"""The dependency direction holds: workers → ticketing → geo, and the core never imports its edges."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def _offenders(package: str, forbidden: tuple[str, ...], only: tuple[str, ...] = ()) -> list[str]:
    return sorted(
        f"{path}: {name}"
        for path, names in _imports(package).items()
        if not only or path.startswith(only)
        for name in names
        if name.split(".")[0] in forbidden or name.startswith(forbidden)
    )


@pytest.mark.parametrize(
    ("package", "forbidden", "only"),
    [
        ("geo", ("ticketing", "workers", "flask"), ()),
        ("ticketing", ("workers",), ()),
        (
            "ticketing",
            ("ticketing.api", "ticketing.web", "workers"),
            ("ticketing/models", "ticketing/services", "ticketing/workflow.py", "ticketing/worktime.py"),
        ),
    ],
)
def test_layering(package: str, forbidden: tuple[str, ...], only: tuple[str, ...]) -> None:
    assert _offenders(package, forbidden, only) == []


def test_workflow_is_plain_python() -> None:
    names = _imports("ticketing")["ticketing/workflow.py"]
    assert not {n for n in names if n.split(".")[0] in ("flask", "sqlalchemy")}
