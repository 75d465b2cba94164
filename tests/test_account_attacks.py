"""Attacks on accounts: forged CSRF, revoked and expired tokens, read-only tokens that try to
change things, password guessing (throttle, lock-out, unlock, one-time code guessing),
username enumeration, over-long fields at sign-in. Each refusal writes nothing it should not."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import func, select
from werkzeug.routing import IntegerConverter

from tests.conftest import TIANSHUI
from ticketing.demo import DEMO_PASSWORD
from ticketing.extensions import db
from ticketing.models import ApiToken, LoginFailure, LoginLock, Ticket, TicketEvent, TicketFollower, User
from ticketing.services import auth

TOKEN = "/api/v1/auth/token"


def _count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _sign_in(client: Any, username: str, password: str, **extra: Any) -> Any:
    return client.post(TOKEN, json={"username": username, "password": password, **extra})


@pytest.fixture
def csrf_on(app: Flask) -> Iterator[None]:
    """Forms and session-authenticated API calls checked for their CSRF token, as in production."""
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        yield
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def _page_token(client: Any, path: str = "/login") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


# ---------------------------------------------------------------------------- forged CSRF


def test_a_forged_sign_in_form_signs_nobody_in_and_counts_nothing(client, csrf_on):
    """Login CSRF: another site's form posting the attacker's credentials into the victim's browser."""
    for token in (None, "forged", _page_token(client)[:-2] + "xx"):
        data = {"username": "deputy_wang", "password": DEMO_PASSWORD}
        if token:
            data["csrf_token"] = token
        assert client.post("/login", data=data).status_code == 400
    with client.session_transaction() as s:
        assert "_user_id" not in s
    assert _count(LoginFailure) == 0


def test_a_csrf_token_from_before_sign_in_is_dead_after_it(client, csrf_on):
    planted = _page_token(client)
    assert client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD,
                                       "csrf_token": planted}).status_code == 302
    before = _count(Ticket)
    body = {"category": "city.litter", "lon": TIANSHUI[0], "lat": TIANSHUI[1], "description": "csrf"}
    resp = client.post("/api/v1/tickets", data=body, headers={"X-CSRFToken": planted})
    assert resp.status_code == 403 and resp.json["error"]["code"] == "csrf_failed"
    assert client.post("/logout", data={"csrf_token": planted}).status_code == 400
    assert _count(Ticket) == before


def test_a_forged_header_on_a_session_api_call_changes_nothing(api, client, csrf_on):
    number = api.report("deputy_wang").json["number"]
    client.post("/login", data={"username": "handler_tianshui", "password": DEMO_PASSWORD,
                                "csrf_token": _page_token(client)})
    events = _count(TicketEvent)
    for header in ({}, {"X-CSRFToken": "forged"}, {"X-CSRFToken": ""}):
        resp = client.post(f"/api/v1/tickets/{number}/accept", json={"note": "收到"}, headers=header)
        assert resp.status_code == 403 and resp.json["error"]["code"] == "csrf_failed"
    assert _count(TicketEvent) == events
    good = client.post(f"/api/v1/tickets/{number}/accept", json={"note": "收到"},
                       headers={"X-CSRFToken": _page_token(client, "/")})
    assert good.status_code == 200, good.json


# ---------------------------------------------------------------------------- revoked and expired tokens


def test_a_revoked_clients_token_is_refused_at_once_everywhere(api, client):
    """The 12345 hotline's token leaks; the admin revokes it: the next request fails, API and Open311."""
    token = auth.issue_token(_user("deputy_wang"), _now(), days=30, label="12345")
    db.session.commit()
    assert client.get("/api/v1/me", headers=_bearer(token)).status_code == 200
    row = db.session.scalar(select(ApiToken).where(ApiToken.label == "12345"))
    auth.revoke_token(row.id)
    db.session.commit()
    before = _count(Ticket)
    resp = client.get("/api/v1/me", headers=_bearer(token))
    assert resp.status_code == 401 and resp.json["error"]["code"] == "invalid_token"
    assert client.post("/api/v1/tickets", headers=_bearer(token), data={"category": "city.litter"}).status_code == 401
    open311 = client.post("/open311/v2/requests.json", data={"api_key": token, "service_code": "city.litter",
                                                             "lat": TIANSHUI[1], "long": TIANSHUI[0]})
    assert open311.status_code == 403 and "api_key" in open311.json[0]["description"]
    assert _count(Ticket) == before


def test_a_token_revoked_by_its_owner_is_refused_at_once(client):
    issued = _sign_in(client, "deputy_wang", DEMO_PASSWORD).json
    assert client.delete(f"/api/v1/auth/tokens/{issued['id']}", headers=_bearer(issued["token"])).status_code == 204
    assert client.get("/api/v1/auth/tokens", headers=_bearer(issued["token"])).status_code == 401


def test_an_expired_token_is_refused(client, clock):
    issued = _sign_in(client, "deputy_wang", DEMO_PASSWORD).json
    clock.advance(days=90, seconds=-1)
    assert client.get("/api/v1/me", headers=_bearer(issued["token"])).status_code == 200
    clock.advance(seconds=1)
    resp = client.get("/api/v1/me", headers=_bearer(issued["token"]))
    assert resp.status_code == 401 and resp.json["error"]["code"] == "invalid_token"


def test_a_deactivated_users_token_is_refused(client):
    issued = _sign_in(client, "deputy_li", DEMO_PASSWORD).json
    auth.set_active(_user("deputy_li"), False, actor=_user("admin"))
    db.session.commit()
    assert client.get("/api/v1/me", headers=_bearer(issued["token"])).status_code == 401


# ---------------------------------------------------------------------------- read-only tokens


def _mutating_routes(app: Flask) -> list[tuple[str, str]]:
    """Every changing (method, path) of /api/v1 except the sign-in itself, path arguments filled."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/") or rule.rule in (TOKEN, f"{TOKEN}/otp"):
            continue
        for method in sorted((rule.methods or set()) - {"GET", "HEAD", "OPTIONS"}):
            values = {name: 1 if isinstance(rule._converters[name], IntegerConverter) else "HZ-1"
                      for name in rule.arguments}
            path = rule.rule
            for name, value in values.items():
                path = re.sub(rf"<(?:[^:<>]+:)?{name}>", str(value), path)
            found.append((method, path))
    return found


def test_a_read_only_token_is_refused_every_change(app, api, client):
    number = api.report("deputy_wang").json["number"]
    routes = _mutating_routes(app)
    assert ("POST", "/api/v1/tickets") in routes and ("DELETE", "/api/v1/auth/tokens/1") in routes
    assert len(routes) >= 15
    reader = _sign_in(client, "supervisor_district", DEMO_PASSWORD, scopes=["read"]).json
    counts = [_count(m) for m in (Ticket, TicketEvent, TicketFollower, ApiToken)]
    for method, path in routes:
        resp = client.open(path.replace("HZ-1", number), method=method, headers=_bearer(reader["token"]), json={})
        assert resp.status_code == 403, (method, path, resp.status_code, resp.get_data(as_text=True)[:200])
        assert resp.json["error"]["code"] == "insufficient_scope", (method, path)
    assert [_count(m) for m in (Ticket, TicketEvent, TicketFollower, ApiToken)] == counts
    # It still reads.
    assert client.get(f"/api/v1/tickets/{number}", headers=_bearer(reader["token"])).status_code == 200


def test_a_read_only_api_key_cannot_post_to_open311(client):
    reader = auth.issue_token(_user("deputy_wang"), _now(), days=1, scopes=["read"])
    db.session.commit()
    before = _count(Ticket)
    resp = client.post("/open311/v2/requests.json", data={"api_key": reader, "service_code": "city.litter",
                                                          "lat": TIANSHUI[1], "long": TIANSHUI[0]})
    assert resp.status_code == 403
    assert _count(Ticket) == before


def test_a_write_only_token_cannot_read(client):
    writer = _sign_in(client, "deputy_wang", DEMO_PASSWORD, scopes=["write"]).json
    resp = client.get("/api/v1/tickets", headers=_bearer(writer["token"]))
    assert resp.status_code == 403 and resp.json["error"]["details"]["needed"] == "read"


# ---------------------------------------------------------------------------- guessing passwords


def test_guessing_stops_at_five_and_the_right_password_does_not_get_through(client, clock):
    guesses = ["123456", "password", "suishoupai", "wang1234", "deputy", "qwerty", DEMO_PASSWORD, "admin123"]
    answers = [_sign_in(client, "deputy_wang", g).status_code for g in guesses]
    assert answers == [401, 401, 401, 401, 429, 429, 429, 429]
    assert _count(LoginFailure) == 5  # attempts while locked are refused before any password check
    # The admin unlocks after the deputy calls in.
    assert auth.unlock(username="deputy_wang") == 1
    db.session.commit()
    assert _sign_in(client, "deputy_wang", DEMO_PASSWORD).status_code == 201


def test_case_variants_of_a_username_share_its_count(client):
    for name in ("deputy_wang", "DEPUTY_WANG", "Deputy_Wang", "deputy_WANG"):
        assert _sign_in(client, name, "guess").status_code == 401
    assert _sign_in(client, "Deputy_wang", "guess").status_code == 429


def test_guessing_the_one_time_code_locks_the_account(client, app, ctx):
    user = _user("handler_wulin")
    user.phone = "13800000001"
    auth.set_otp_required(user, True)
    db.session.commit()
    app.config["OTP_SENDER"] = "console"
    try:
        challenge = _sign_in(client, "handler_wulin", DEMO_PASSWORD).json["challenge"]
        answers = [client.post(f"{TOKEN}/otp", json={"challenge": challenge, "code": f"{n:06d}"}).status_code
                   for n in range(5)]
        # A new challenge does not buy new guesses: the username is locked.
        relogin = _sign_in(client, "handler_wulin", DEMO_PASSWORD)
    finally:
        app.config["OTP_SENDER"] = "channels"
    assert answers == [401, 401, 401, 401, 429]
    assert relogin.status_code == 429
    assert db.session.scalar(select(LoginLock.key)) == "handler_wulin"


def test_an_unknown_challenge_is_refused(client):
    resp = client.post(f"{TOKEN}/otp", json={"challenge": "made-up", "code": "123456"})
    assert resp.status_code == 401 and resp.json["error"]["code"] == "otp_expired"


# ---------------------------------------------------------------------------- username enumeration


def test_an_unknown_username_is_answered_like_a_wrong_password(client):
    unknown = _sign_in(client, "no_such_person", "whatever-1")
    known = _sign_in(client, "deputy_wang", "whatever-1")
    assert unknown.status_code == known.status_code == 401
    assert unknown.json == known.json
    page_unknown = client.post("/login", data={"username": "no_such_person", "password": "whatever-1"})
    page_known = client.post("/login", data={"username": "deputy_wang", "password": "whatever-1"})
    assert page_unknown.status_code == page_known.status_code == 401

    def without_token(resp: Any) -> str:
        return re.sub(r'(csrf[-_]token"? (?:content|value)=)"[^"]+"', r"\1", resp.get_data(as_text=True))

    assert without_token(page_unknown) == without_token(page_known)


def test_an_unknown_username_costs_one_password_verification_too(client, monkeypatch):
    """Same timing: the unknown name is checked against a decoy hash rather than answered at once."""
    calls: list[str] = []
    original = PasswordHasher.verify

    def counting(self: PasswordHasher, hash: str, password: str | bytes) -> bool:
        calls.append(hash)
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    _sign_in(client, "no_such_person", "whatever-1")
    _sign_in(client, "deputy_wang", "whatever-1")
    assert len(calls) == 2 and all(h.startswith("$argon2id$") for h in calls)


def test_unknown_usernames_are_locked_alike(client):
    answers = [_sign_in(client, "no_such_person", "x").status_code for _ in range(6)]
    assert answers == [401, 401, 401, 401, 429, 429]


# ---------------------------------------------------------------------------- over-long fields


@pytest.mark.parametrize(("body", "field"), [
    ({"username": "u" * 81, "password": DEMO_PASSWORD}, "username"),
    ({"username": "deputy_wang", "password": "p" * 201}, "password"),
    ({"username": "deputy_wang", "password": DEMO_PASSWORD, "label": "l" * 101}, "label"),
    ({"username": "deputy_wang", "password": DEMO_PASSWORD, "scopes": ["read"] * 3}, "scopes"),
])
def test_over_long_sign_in_fields_are_422_and_write_nothing(client, body, field):
    before = (_count(LoginFailure), _count(ApiToken))
    resp = client.post(TOKEN, json=body)
    assert resp.status_code == 422 and field in resp.json["error"]["details"]["fields"]["json_or_form"]
    assert (_count(LoginFailure), _count(ApiToken)) == before


@pytest.mark.parametrize("body", [{"challenge": "c" * 101, "code": "123456"}, {"challenge": "c", "code": "1" * 21}])
def test_over_long_code_fields_are_422(client, body):
    assert client.post(f"{TOKEN}/otp", json=body).status_code == 422


@pytest.mark.parametrize(("username", "password"), [("u" * 81, DEMO_PASSWORD), ("deputy_wang", "p" * 201),
                                                    ("deputy_wang", "p" * 100_000)])
def test_over_long_fields_on_the_sign_in_page_are_refused_and_not_counted(client, username, password):
    resp = client.post("/login?lang=en", data={"username": username, "password": password})
    assert resp.status_code == 422 and "too long" in resp.get_data(as_text=True)
    assert _count(LoginFailure) == 0


def test_over_long_code_on_the_page_is_refused(client, app, ctx):
    user = _user("handler_wulin")
    user.phone = "13800000001"
    auth.set_otp_required(user, True)
    db.session.commit()
    app.config["OTP_SENDER"] = "console"
    try:
        client.post("/login", data={"username": "handler_wulin", "password": DEMO_PASSWORD})
        resp = client.post("/login/code", data={"code": "9" * 50})
    finally:
        app.config["OTP_SENDER"] = "channels"
    assert resp.status_code == 422 and _count(LoginFailure) == 0


def test_admin_and_cli_token_labels_are_bounded(ctx):
    before = _count(ApiToken)
    result = ctx.test_cli_runner().invoke(args=["users", "token", "deputy_wang", "--label", "x" * 101])
    assert result.exit_code != 0 and "invalid_token_label" in result.output
    assert _count(ApiToken) == before


def test_tokens_expire_within_the_configured_days(client, clock):
    issued = _sign_in(client, "deputy_wang", DEMO_PASSWORD).json
    row = db.session.get(ApiToken, issued["id"])
    assert row.expires_at - row.created_at == timedelta(days=90)
