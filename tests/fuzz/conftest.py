"""Fixtures of the fuzzing tests: one app on a PostGIS database of its own, with tickets in every state.

Fuzzing runs on PostGIS only (DESIGN.md §9) and commits what it sends, so it gets its own
database (``suishoupai_fuzz``), never the shared one the rolled-back tests use. The Hangzhou
world is built and a few tickets are driven through the API into each state, so that the
ticket and photo operations meet real rows, not only 404s. The example counts of the run are
printed at the end of the session (``pytest_terminal_summary``), with or without ``-s``.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from tests.conftest import NOW, TIANSHUI, Api, jpeg, own_postgis_app, rolled_back

# Examples sent per fuzzed operation label ("POST /api/v1/tickets"), and how many of them
# succeeded (2xx): filled by the tests, printed at the end.
EXAMPLES: Counter[str] = Counter()
SUCCEEDED: Counter[str] = Counter()
# Seconds spent sending and checking, per operation label.
SECONDS: dict[str, float] = {}


@pytest.fixture(scope="session")
def fuzz_app(postgis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """The app on a fresh PostGIS database of its own: the demo world plus a few tickets in each state.

    The tickets are made with the API's clock at ``FUZZ_NOW``, where the tests here find it
    too (`_fuzz_clock`): what the fuzzer meets (deadlines, calendar years) does not depend on
    the day the suite runs.
    """
    from ticketing.demo import build_hangzhou
    from ticketing.extensions import db

    app = own_postgis_app(postgis_url, "suishoupai_fuzz", tmp_path_factory.mktemp("fuzz") / "photos")
    with app.app_context():
        build_hangzhou(NOW)
        db.session.commit()
        db.session.remove()

    with frozen_api_clock():
        seed_tickets(app.test_client())
    yield app
    with app.app_context():
        db.engine.dispose()


# The day after the demo world's NOW, 10:00 in Shanghai: a working day.
FUZZ_NOW = NOW + timedelta(days=1, hours=1)


@contextmanager
def frozen_api_clock() -> Iterator[None]:
    """The API's request clock (``ticketing.api.context.now``) stands at FUZZ_NOW inside the block."""
    from ticketing.api import context

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return FUZZ_NOW.astimezone(tz) if tz else FUZZ_NOW

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(context, "datetime", Frozen)
        yield


@pytest.fixture(autouse=True)
def _fuzz_clock() -> Iterator[None]:
    """Every test here meets the API at FUZZ_NOW, whatever the day the suite runs."""
    with frozen_api_clock():
        yield


def seed_tickets(client: FlaskClient) -> None:
    """Tickets through the API in every state the actions start from: dispatched, accepted,
    resolved, closed, returned, a private one and a department's one."""
    tokens = {u: _token(client, u) for u in ("deputy_wang", "handler_tianshui", "handler_enforcement")}

    def post(path: str, user: str, **kw: Any) -> Any:
        resp = client.post(path, headers={"Authorization": f"Bearer {tokens[user]}"}, **kw)
        assert resp.status_code < 300, (path, resp.json)
        return resp.json

    def report(category: str = "city.litter", **fields: Any) -> str:
        data = {"category": category, "description": "fuzz seed", "lon": TIANSHUI[0], "lat": TIANSHUI[1],
                "photos": [(io.BytesIO(jpeg()), "p.jpg")], **fields}
        return str(post("/api/v1/tickets", "deputy_wang", data=data, content_type="multipart/form-data")["number"])

    def act(number: str, action: str, user: str = "handler_tianshui", **fields: Any) -> None:
        path = f"/api/v1/tickets/{number}/{action}"
        if action == "resolve":  # evidence: a photo, so multipart
            fields["photos"] = [(io.BytesIO(jpeg()), "r.jpg")]
            post(path, user, data=fields, content_type="multipart/form-data")
        else:
            post(path, user, json=fields)

    report()  # dispatched
    report(visibility="private")
    report("environment.fumes")  # the law-enforcement bureau's
    accepted, resolved, closed, returned = report(), report(), report(), report()
    for number in (accepted, resolved, closed):
        act(number, "accept", note="收到")
    for number in (resolved, closed):
        act(number, "resolve", note="已清理", outcome="solved")
    act(closed, "rate", "deputy_wang", score="satisfied")
    act(returned, "return", reason="不属本单位")


def _token(client: FlaskClient, username: str) -> str:
    from ticketing.demo import DEMO_PASSWORD

    resp = client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
    assert resp.status_code == 201, resp.json
    return str(resp.json["token"])


@pytest.fixture(scope="session")
def fuzz_tokens(fuzz_app: Flask) -> dict[str, str]:
    """A bearer token for each demo user the fuzzer signs in as (one per role and level)."""
    client = fuzz_app.test_client()
    with frozen_api_clock():
        return {username: _token(client, username) for username in FUZZ_USERS}


@pytest.fixture
def fuzz_api(fuzz_app: Flask) -> Iterator[Api]:
    """The tests' API helper on the fuzzing app, in a transaction rolled back after the test."""
    with rolled_back(fuzz_app) as app:
        yield Api(app.test_client())


@pytest.fixture(scope="session")
def ticket_numbers(fuzz_app: Flask) -> list[str]:
    """Numbers of the seeded tickets, to aim path parameters at rows that exist."""
    from ticketing.extensions import db
    from ticketing.models import Ticket

    with fuzz_app.app_context():
        numbers = list(db.session.scalars(select(Ticket.number).order_by(Ticket.id)))
        db.session.remove()
    return numbers


# The fuzzer's callers: a deputy reports and rates, handlers of a street and of a department
# act on work orders, supervisors at street and district level supervise, and the admin.
FUZZ_USERS = (
    "deputy_wang",
    "handler_tianshui",
    "handler_enforcement",
    "supervisor_tianshui",
    "supervisor_district",
    "admin",
)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The example counts, per operation and in total, so a run shows how much it tried."""
    if not EXAMPLES:
        return
    terminalreporter.section("schemathesis examples")
    terminalreporter.write_line("  sent   2xx  operation")
    for label, count in sorted(EXAMPLES.items(), key=lambda item: item[0].split(" ", 1)[::-1]):
        terminalreporter.write_line(f"{count:6d} {SUCCEEDED[label]:5d}  {label}")
    top = sorted(SECONDS.items(), key=lambda item: -item[1])[:3]
    slowest = ", ".join(f"{label} {seconds:.1f} s" for label, seconds in top)
    terminalreporter.write_line(f"{sum(SECONDS.values()):.0f} s in requests and checks; slowest: {slowest}")
    api = sum(n for label, n in EXAMPLES.items() if "/open311/" not in label)
    open311 = sum(n for label, n in EXAMPLES.items() if "/open311/" in label)
    terminalreporter.write_line(
        f"schemathesis: {api + open311} examples ({api} on /api/v1, {open311} on /open311/v2) "
        f"over {len(EXAMPLES)} operations"
    )
