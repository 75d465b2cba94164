"""Schemathesis against /api/v1 and /open311/v2, in process (WSGI), on PostGIS.

Every operation of both OpenAPI documents gets generated requests, valid and invalid
(schemathesis's coverage and fuzzing phases), signed in as the demo user the operation is
meant for or, for a quarter of them, as another role. Checks: no 5xx, each response matches
its documented status, content type and schema, and after every request that may change
something the database is still whole (``tests.fuzz.invariants``). Bounded: a few examples
per operation, no shrinking, a fixed seed; the counts are printed at the end of the run.

The documents are loaded at collection from an app that serves them without a database
(they are generated from the code); the requests go to ``fuzz_app``, on its own database.
"""

from __future__ import annotations

import re
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import strategies as st
from schemathesis.transport.serialization import Binary

from tests.conftest import jpeg, make_app
from tests.fuzz.conftest import EXAMPLES, FUZZ_USERS, SECONDS, SUCCEEDED
from tests.fuzz.invariants import violations

SEED = 20260302
# Examples per operation in the fuzzing phase; the coverage phase adds its own boundary cases.
MAX_EXAMPLES = 10


def _config(*, disabled_checks: tuple[str, ...] = ()) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "no-shrink": True, "allow-x00": True},
            "phases": {"stateful": {"enabled": False}},
            "checks": {name: {"enabled": False} for name in disabled_checks},
        }
    )


# Schema-valid is not business-valid: an unknown assignee or a closed ticket's action is a
# 422 or 409 by design, so schemathesis's "valid data must be accepted" does not apply.
API_CHECKS_OFF = ("positive_data_acceptance",)
# GeoReport answers every error with its own list and 400/403/404 (spec §b.8), a wrong method too.
OPEN311_CHECKS_OFF = ("positive_data_acceptance", "unsupported_method")

DOCUMENT_APP = make_app("postgresql+psycopg://document-only.invalid/none", Path("/nonexistent"))
api_v1 = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", DOCUMENT_APP, config=_config(
    disabled_checks=API_CHECKS_OFF))
open311 = schemathesis.openapi.from_wsgi("/open311/v2/openapi.json", DOCUMENT_APP, config=_config(
    disabled_checks=OPEN311_CHECKS_OFF))

# Real values, filled from the fuzzing database before the first example (hooks run at
# generation time): generated strings alone would almost never name a ticket, a category or
# a unit, and the requests would stop at 404 and 422 instead of reaching the services.
NUMBERS: list[str] = []
TOKENS: dict[str, str] = {}
TOKEN_IDS: set[str] = set()
VALUES: dict[str, list[str]] = {}
# Inside the demo district (下城区), WGS84.
LON, LAT = (120.14, 120.20), (30.26, 30.32)


@pytest.fixture(scope="module", autouse=True)
def _targets(fuzz_app: Flask, ticket_numbers: list[str], fuzz_tokens: dict[str, str]) -> None:
    from sqlalchemy import select

    from ticketing.extensions import db
    from ticketing.models import ApiToken, Category, OrgUnit, User

    NUMBERS[:] = ticket_numbers
    TOKENS.update(fuzz_tokens)
    with fuzz_app.app_context():
        VALUES["category"] = list(db.session.scalars(select(Category.code).where(Category.parent_id.is_not(None))))
        VALUES["unit"] = list(db.session.scalars(select(OrgUnit.code)))
        VALUES["assignee"] = list(db.session.scalars(select(User.username)))
        TOKEN_IDS.update(str(i) for i in db.session.scalars(select(ApiToken.id)))
        db.session.remove()


# Two small real JPEGs.
PHOTOS = [Binary(jpeg()), Binary(jpeg((20, 120, 40), (48, 64)))]
NUMBER = (int, float)
NULLABLE_NUMBER = (int, float, type(None))


def _aimed(value: Any, kind: type | tuple[type, ...], strategy: Any) -> Any:
    """Mostly a value drawn from `strategy`, but only where `value` is already of a valid kind:
    a field a negative example made invalid on purpose stays invalid."""
    if not isinstance(value, kind) or isinstance(value, bool) or value in ("", []):
        return st.just(value)
    # Hypothesis favours the first branch in a short run, so the real values come first.
    return st.one_of(strategy, st.just(value))


def _existing_number(path_parameters: dict[str, Any] | None, name: str) -> Any:
    """The path parameters, with `name` mostly aimed at an existing ticket number."""
    if not path_parameters or name not in path_parameters:
        return st.just(path_parameters)
    return _aimed(path_parameters[name], str, st.sampled_from(NUMBERS)).map(
        lambda n: {**path_parameters, name: n})


def _aimed_body(body: Any, fields: dict[str, tuple[Any, Any]]) -> Any:
    """The body with each of `fields` present possibly replaced by a real value (see `_aimed`)."""
    if not isinstance(body, dict) or not fields.keys() & body.keys():
        return st.just(body)
    parts = {name: _aimed(body[name], kind, strategy) for name, (kind, strategy) in fields.items() if name in body}
    return st.fixed_dictionaries(parts).map(lambda values: {**body, **values})


@api_v1.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    return _existing_number(path_parameters, "key")


@api_v1.hook
def filter_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> bool:
    """Never revoke a token the fuzzer signs in with (DELETE /auth/tokens/{token_id}): the rest of
    the run would be anonymous."""
    return not path_parameters or str(path_parameters.get("token_id")) not in TOKEN_IDS


@api_v1.hook
def flatmap_body(context: Any, body: Any) -> Any:
    path = context.operation.path
    if path.endswith("/supervision/items"):
        return _aimed_body(body, {"ticket": (str, st.sampled_from(NUMBERS))})
    if not path.startswith("/api/v1/tickets"):
        return st.just(body)
    if path == "/api/v1/tickets":
        return _with_location(body, "lon", "lat").flatmap(_aimed_ticket_body)
    return _aimed_ticket_body(body)


def _with_location(body: Any, lon: str, lat: str) -> Any:
    """A report needs a location: mostly add one where the body has neither coordinate (adding
    the optional pair keeps an example as valid, or as invalid, as it was)."""
    if not isinstance(body, dict) or {lon, lat} & body.keys():
        return st.just(body)
    located = st.builds(lambda x, y: {**body, lon: x, lat: y}, st.floats(*LON), st.floats(*LAT))
    return st.one_of(located, st.just(body))


def _aimed_ticket_body(body: Any) -> Any:
    return _aimed_body(body, {
        # Real photos too, so reports and evidence reach the photo store (and its invariants).
        "photos": (list, st.lists(st.sampled_from(PHOTOS), min_size=1, max_size=2)),
        "category": (str, st.sampled_from(VALUES["category"])),
        "lon": (NULLABLE_NUMBER, st.floats(*LON)),
        "lat": (NULLABLE_NUMBER, st.floats(*LAT)),
        "unit": (str, st.sampled_from(VALUES["unit"])),
        "units": (list, st.lists(st.sampled_from(VALUES["unit"]), min_size=1, max_size=3)),
        "assignee": (str, st.sampled_from(VALUES["assignee"])),
        "original": (str, st.sampled_from(NUMBERS)),
    })


@api_v1.hook
def filter_query(context: Any, query: dict[str, Any] | None) -> bool:
    """No undocumented query parameters: the API ignores them by design (docs/api.md), so a
    negative example made of one would be "accepted" without anything being wrong."""
    return not query or set(query) <= {p.name for p in context.operation.query}


@open311.hook("filter_failure")
def _ids_override_the_rest(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """The spec makes service_request_id override every other argument of GET requests (§b.6):
    the server does not read them then, so an invalid one is not refused."""
    from schemathesis.core.failures import AcceptedNegativeData

    return not (isinstance(failure, AcceptedNegativeData) and (case.query or {}).get("service_request_id"))


@open311.hook("flatmap_path_parameters")
def _open311_request_ids(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    return _existing_number(path_parameters, "request_id")


@open311.hook("flatmap_body")
def _open311_body(context: Any, body: Any) -> Any:
    """Most posts carry a real api_key (a deputy's or a handler's token), a real service and a
    point in the district, and name an existing request."""
    if context.operation.path.endswith("/requests.{fmt}"):
        return _with_location(body, "long", "lat").flatmap(_aimed_open311_body)
    return _aimed_open311_body(body)


def _aimed_open311_body(body: Any) -> Any:
    return _aimed_body(body, {
        "api_key": (str, st.sampled_from([TOKENS["deputy_wang"], TOKENS["handler_tianshui"]])),
        "service_code": (str, st.sampled_from(VALUES["category"])),
        "service_request_id": (str, st.sampled_from(NUMBERS)),
        "lat": (NUMBER, st.floats(*LAT)),
        "long": (NUMBER, st.floats(*LON)),
    })


# The user each operation is meant for; the first pattern that matches the path wins.
ROLE_OF_PATH = (
    (r"/tickets/\{key\}/(accept|return|progress|assign|transfer|cohandle|resolve|extension)$", "handler_tianshui"),
    (r"/tickets/\{key\}/(redispatch|close|reopen|invalid|duplicate|review|extension/.*)$", "supervisor_district"),
    (r"/(supervision|kpis|exports|reports|deputies)", "supervisor_district"),
    (r"/webhooks", "admin"),
    (r"", "deputy_wang"),
)


def _digest(value: Any) -> int:
    return zlib.crc32(repr(value).encode("utf-8", "surrogatepass"))


def _caller(case: Any) -> str:
    """The operation's own user for three examples in four, another role for the fourth (403/404 paths).

    Chosen from the example's content, not at random, so that a failure replays as the same user.
    """
    main = next(user for pattern, user in ROLE_OF_PATH if re.search(pattern, case.operation.path))
    pick = _digest((case.path_parameters, case.query, case.body))
    return main if pick % 4 else FUZZ_USERS[pick % len(FUZZ_USERS)]


def _check_database(app: Flask, case: Any, user: str | None) -> None:
    from ticketing.extensions import db

    with app.app_context():
        try:
            broken = violations(db.session, Path(app.config["PHOTO_DIR"]))
        finally:
            db.session.remove()
    assert not broken, f"{case.operation.label} as {user} left the database broken: {broken}"


def _fuzz(case: Any, app: Flask, user: str | None, headers: dict[str, str]) -> None:
    started = time.monotonic()
    EXAMPLES[case.operation.label] += 1
    try:
        response = case.call(headers=headers, app=app)
        if response.status_code < 300:
            SUCCEEDED[case.operation.label] += 1
        if case.method.upper() != "GET":
            _check_database(app, case, user)
        case.validate_response(response, headers=headers, transport_kwargs={"app": app, "headers": headers})
    except BaseException as exc:
        exc.add_note(f"sent as {user or 'nobody'}")
        raise
    finally:
        SECONDS[case.operation.label] = SECONDS.get(case.operation.label, 0.0) + time.monotonic() - started


@api_v1.parametrize()
def test_api_v1(case: Any, fuzz_app: Flask) -> None:
    user = None if case.operation.path.endswith("/auth/token") else _caller(case)
    _fuzz(case, fuzz_app, user, {"Authorization": f"Bearer {TOKENS[user]}"} if user else {})


@open311.parametrize()
def test_open311(case: Any, fuzz_app: Flask) -> None:
    _fuzz(case, fuzz_app, None, {})
