"""Accounts: argon2 passwords (old hashes upgraded), the sign-in throttle and its lock-out,
session cookies, scoped and revocable API tokens, one-time codes, intake rate limits."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import func, insert, select
from werkzeug.security import generate_password_hash

from tests.conftest import NOW, TIANSHUI, jpeg
from tests.test_outbox import Gateway, gateway, smtp_server  # noqa: F401 (gateway is a fixture)
from ticketing.demo import DEMO_PASSWORD
from ticketing.errors import InvalidInput
from ticketing.extensions import db
from ticketing.models import ApiToken, LoginFailure, LoginLock, OtpChallenge, Ticket, User
from ticketing.services import auth

TOKEN = "/api/v1/auth/token"


def _user(username: str) -> User:
    return db.session.scalar(select(User).where(User.username == username))


def _count(model: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def _sign_in(client: Any, username: str, password: str, ip: str = "127.0.0.1", **extra: Any) -> Any:
    return client.post(TOKEN, json={"username": username, "password": password, **extra},
                       environ_base={"REMOTE_ADDR": ip})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _report_form() -> dict[str, Any]:
    return {"category": "city.litter", "description": "垃圾堆积", "lon": str(TIANSHUI[0]), "lat": str(TIANSHUI[1]),
            "photos": [(io.BytesIO(jpeg()), "p.jpg")]}


# ---------------------------------------------------------------------------- passwords


def test_new_passwords_are_hashed_with_argon2id(ctx):
    user = auth.create_user(username="newbie", password="long-enough", display_name="新人", role="deputy",
                            unit_code=None, now=NOW)
    assert user.password_hash.startswith("$argon2id$")
    assert auth.authenticate("newbie", "long-enough") == user


@pytest.mark.parametrize("method", ["pbkdf2:sha256:600000", "scrypt"])
def test_an_old_werkzeug_hash_signs_in_and_is_upgraded_to_argon2(client, method):
    wang = _user("deputy_wang")
    wang.password_hash = generate_password_hash(DEMO_PASSWORD, method=method)
    db.session.commit()
    assert client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD}).status_code == 302
    db.session.refresh(wang)
    assert wang.password_hash.startswith("$argon2id$")
    assert auth.authenticate("deputy_wang", DEMO_PASSWORD) == wang


def test_an_argon2_hash_with_other_costs_is_redone_with_the_configured_ones(client, app):
    wang = _user("deputy_wang")
    wang.password_hash = PasswordHasher(time_cost=2, memory_cost=512, parallelism=2).hash(DEMO_PASSWORD)
    db.session.commit()
    assert _sign_in(client, "deputy_wang", DEMO_PASSWORD).status_code == 201
    db.session.refresh(wang)
    costs = f"m={app.config['PASSWORD_ARGON2_MEMORY_KIB']},t={app.config['PASSWORD_ARGON2_TIME_COST']}," \
            f"p={app.config['PASSWORD_ARGON2_PARALLELISM']}"
    assert costs in wang.password_hash


def test_a_wrong_password_leaves_an_old_hash_alone(client):
    wang = _user("deputy_wang")
    old = generate_password_hash(DEMO_PASSWORD)
    wang.password_hash = old
    db.session.commit()
    assert _sign_in(client, "deputy_wang", "not-the-password").status_code == 401
    db.session.refresh(wang)
    assert wang.password_hash == old


def test_production_costs_are_argon2_cffi_defaults():
    import config

    prod = config.select("production")
    assert (prod.PASSWORD_ARGON2_TIME_COST, prod.PASSWORD_ARGON2_MEMORY_KIB, prod.PASSWORD_ARGON2_PARALLELISM) == (
        3, 65536, 4)


# ---------------------------------------------------------------------------- throttle


def test_five_failures_lock_the_username_for_fifteen_minutes(client, clock):
    for _ in range(4):
        resp = _sign_in(client, "deputy_wang", "guess")
        assert resp.status_code == 401 and resp.json["error"]["code"] == "bad_credentials"
    fifth = _sign_in(client, "deputy_wang", "guess")
    assert fifth.status_code == 429 and fifth.json["error"]["code"] == "login_locked"
    assert fifth.headers["Retry-After"] == "900"
    # Locked: even the right password is refused, and says how long is left.
    clock.advance(minutes=10)
    locked = _sign_in(client, "deputy_wang", DEMO_PASSWORD)
    assert locked.status_code == 429 and locked.headers["Retry-After"] == "300"
    clock.advance(minutes=5)
    assert _sign_in(client, "deputy_wang", DEMO_PASSWORD).status_code == 201


def test_a_success_resets_the_username_count(client):
    for _ in range(4):
        assert _sign_in(client, "deputy_wang", "guess").status_code == 401
    assert _sign_in(client, "deputy_wang", DEMO_PASSWORD).status_code == 201
    for _ in range(4):
        assert _sign_in(client, "deputy_wang", "guess").status_code == 401
    assert _sign_in(client, "deputy_wang", DEMO_PASSWORD).status_code == 201


def test_failures_older_than_the_window_no_longer_count(client, clock):
    for _ in range(4):
        _sign_in(client, "deputy_wang", "guess")
    clock.advance(minutes=15, seconds=1)
    assert _sign_in(client, "deputy_wang", "guess").status_code == 401
    # ...and they are pruned rather than kept for ever.
    assert _count(LoginFailure) == 1


def test_the_client_address_is_locked_after_twenty_failures_whatever_the_usernames(client):
    names = ["deputy_wang", "deputy_li", "handler_wulin", "admin", "nobody_at_all"]
    statuses = [_sign_in(client, names[i % 5], "guess", ip="10.1.1.1").status_code for i in range(20)]
    assert statuses[:19] == [401] * 19 and statuses[19] == 429
    assert _sign_in(client, "handler_chaohui", DEMO_PASSWORD, ip="10.1.1.1").status_code == 429
    # From elsewhere the same people sign in: no username reached its own limit.
    assert _sign_in(client, "deputy_wang", DEMO_PASSWORD, ip="10.2.2.2").status_code == 201


def test_the_lock_out_is_counted_in_the_database(client, clock):
    """Another worker process sees the same rows: the lock is not a process's memory."""
    for _ in range(5):
        _sign_in(client, "deputy_li", "guess")
    lock = db.session.scalar(select(LoginLock))
    assert (lock.kind.value, lock.key, lock.locked_until) == ("username", "deputy_li", NOW + timedelta(minutes=15))


def test_the_web_page_says_the_account_is_locked(client):
    for _ in range(4):
        assert client.post("/login", data={"username": "deputy_wang", "password": "guess"}).status_code == 401
    resp = client.post("/login", data={"username": "deputy_wang", "password": "guess"})
    assert resp.status_code == 429 and resp.headers["Retry-After"]
    assert "登录失败次数过多，请 15 分钟后再试" in resp.get_data(as_text=True)
    resp = client.post("/login?lang=en", data={"username": "deputy_wang", "password": DEMO_PASSWORD})
    assert resp.status_code == 429 and "Too many failed sign-ins. Try again in 15 minutes." in resp.get_data(as_text=True)


def test_an_admin_unlocks_a_username_with_the_cli(ctx, client):
    for _ in range(5):
        _sign_in(client, "deputy_wang", "guess")
    runner = ctx.test_cli_runner()
    listed = runner.invoke(args=["users", "locks"])
    assert "username\tdeputy_wang" in listed.output
    result = runner.invoke(args=["users", "unlock", "deputy_wang"])
    assert result.exit_code == 0 and "lifted 1 lock-out" in result.output
    assert _sign_in(client, "deputy_wang", DEMO_PASSWORD).status_code == 201
    assert runner.invoke(args=["users", "unlock"]).exit_code != 0  # nothing named


def test_unlock_lifts_an_address_and_forgets_its_failures(ctx, client):
    for i in range(20):
        _sign_in(client, f"nobody{i}", "guess", ip="10.9.9.9")
    assert _sign_in(client, "deputy_wang", DEMO_PASSWORD, ip="10.9.9.9").status_code == 429
    assert auth.unlock(ip="10.9.9.9") == 1
    assert _sign_in(client, "deputy_wang", DEMO_PASSWORD, ip="10.9.9.9").status_code == 201
    assert _sign_in(client, "nobody0", "guess", ip="10.9.9.9").status_code == 401  # counting starts afresh


# ---------------------------------------------------------------------------- sessions


def _cookie(resp: Any, name: str = "session") -> str:
    return next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith(f"{name}="))


def test_the_session_cookie_is_httponly_lax_and_expires(client):
    resp = client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD})
    cookie = _cookie(resp)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie  # plain HTTP in development and tests


def test_the_cookie_is_secure_where_configured_and_in_production(client, app):
    import config

    assert config.select("production").SESSION_COOKIE_SECURE is True
    app.config["SESSION_COOKIE_SECURE"] = True
    try:
        resp = client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD})
    finally:
        app.config["SESSION_COOKIE_SECURE"] = False
    assert "Secure" in _cookie(resp)


def test_signing_in_starts_a_new_session(client):
    client.get("/login")
    with client.session_transaction() as s:
        s["planted"] = "by someone else"
        before = s.get("csrf_token")
    assert before
    client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD})
    client.get("/")
    with client.session_transaction() as s:
        assert "planted" not in s
        assert s["_user_id"] == str(_user("deputy_wang").id)
        assert s.get("csrf_token") != before


def test_signing_out_clears_the_whole_session(client):
    client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD})
    client.get("/")
    client.post("/logout")
    with client.session_transaction() as s:
        assert dict(s) == {} or set(s) <= {"_flashes"}
    assert client.get("/api/v1/me").status_code == 401


# ---------------------------------------------------------------------------- tokens


def test_a_token_has_an_id_a_label_and_read_and_write_by_default(client, clock):
    resp = _sign_in(client, "deputy_wang", DEMO_PASSWORD)
    assert resp.status_code == 201
    body = resp.json
    assert body["scopes"] == ["read", "write"] and body["label"] == "api" and isinstance(body["id"], int)
    row = db.session.get(ApiToken, body["id"])
    assert row.token_hash != body["token"] and row.expires_at == NOW + timedelta(days=90)


def test_a_read_only_token_is_asked_for_with_a_label(client, clock):
    resp = _sign_in(client, "deputy_wang", DEMO_PASSWORD, scopes=["read"], label="dashboard")
    assert resp.status_code == 201 and resp.json["scopes"] == ["read"] and resp.json["label"] == "dashboard"
    assert client.get("/api/v1/me", headers=_bearer(resp.json["token"])).status_code == 200


@pytest.mark.parametrize("scopes", [[], ["admin"], ["read", "everything"], "read"])
def test_unknown_or_empty_scopes_are_refused(client, scopes):
    before = _count(ApiToken)
    resp = _sign_in(client, "deputy_wang", DEMO_PASSWORD, scopes=scopes)
    assert resp.status_code == 422 and resp.json["error"]["code"] == "validation_failed"
    assert _count(ApiToken) == before


def test_the_service_refuses_scopes_outside_the_role(ctx):
    with pytest.raises(InvalidInput) as exc:
        auth.issue_token(_user("deputy_wang"), NOW, days=1, scopes=["write", "admin"])
    assert exc.value.code == "invalid_scopes"


def test_tokens_from_before_scopes_keep_read_and_write(ctx):
    wang = _user("deputy_wang")
    db.session.execute(insert(ApiToken.__table__).values(
        user_id=wang.id, token_hash="0" * 64, label="old", created_at=NOW, revoked=False))
    row = db.session.scalar(select(ApiToken).where(ApiToken.label == "old"))
    assert row.scope_list == ["read", "write"]


def test_owners_list_and_revoke_their_own_tokens(client):
    first = _sign_in(client, "deputy_wang", DEMO_PASSWORD, label="phone").json
    second = _sign_in(client, "deputy_wang", DEMO_PASSWORD, label="laptop", scopes=["read"]).json
    other = _sign_in(client, "deputy_li", DEMO_PASSWORD).json
    listing = client.get("/api/v1/auth/tokens", headers=_bearer(first["token"])).json["items"]
    assert [t["label"] for t in listing] == ["laptop", "phone"]
    assert listing[0]["scopes"] == ["read"] and "token" not in listing[0]
    assert first["token"] not in str(listing)
    # Another's token is not found; one's own goes at once.
    assert client.delete(f"/api/v1/auth/tokens/{other['id']}", headers=_bearer(first["token"])).status_code == 404
    assert client.get("/api/v1/me", headers=_bearer(other["token"])).status_code == 200
    assert client.delete(f"/api/v1/auth/tokens/{second['id']}", headers=_bearer(first["token"])).status_code == 204
    assert client.get("/api/v1/me", headers=_bearer(second["token"])).status_code == 401
    listing = client.get("/api/v1/auth/tokens", headers=_bearer(first["token"])).json["items"]
    assert [t["label"] for t in listing] == ["phone"]


def test_a_token_can_revoke_itself(client):
    mine = _sign_in(client, "deputy_wang", DEMO_PASSWORD).json
    assert client.delete(f"/api/v1/auth/tokens/{mine['id']}", headers=_bearer(mine["token"])).status_code == 204
    assert client.get("/api/v1/me", headers=_bearer(mine["token"])).status_code == 401


def test_the_cli_issues_a_read_only_token(ctx, client):
    result = ctx.test_cli_runner().invoke(args=["users", "token", "handler_wulin", "--scope", "read", "--label", "bi"])
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert client.get("/api/v1/me", headers=_bearer(token)).json["username"] == "handler_wulin"
    row = db.session.scalar(select(ApiToken).where(ApiToken.label == "bi"))
    assert row.scope_list == ["read"]


def test_the_admin_token_page_shows_the_scopes_it_issued(client):
    client.post("/login", data={"username": "admin", "password": DEMO_PASSWORD})
    resp = client.post("/admin/tokens", data={"username": "handler_wulin", "label": "12345", "days": "30"})
    assert resp.status_code == 201
    token = re.search(r'id="new-token" readonly value="([^"]+)"', resp.get_data(as_text=True)).group(1)
    assert auth.token_for(token, NOW).scope_list == ["read", "write"]


# ---------------------------------------------------------------------------- one-time codes


@pytest.fixture
def otp_user(ctx) -> User:
    user = _user("handler_wulin")
    user.phone = "13800000001"
    auth.set_otp_required(user, True)
    db.session.commit()
    return user


@pytest.fixture
def sms(app: Flask, gateway: Gateway) -> Iterator[Gateway]:  # noqa: F811
    """Codes go out through the SMS channel to a fake gateway over real HTTP."""
    app.config.update(SMS_WEBHOOK_URL=gateway.url, OTP_SENDER="channels")
    try:
        yield gateway
    finally:
        app.config.update(SMS_WEBHOOK_URL=None)


def _code(gw: Gateway) -> str:
    return re.search(r"\b(\d{6})\b", gw.received[-1]["text"]).group(1)


def test_demo_users_need_no_code(ctx):
    assert db.session.scalar(select(func.count()).where(User.otp_required.is_(True))) == 0


def test_an_otp_user_gets_a_code_by_sms_and_then_a_token(client, otp_user, sms):
    first = _sign_in(client, "handler_wulin", DEMO_PASSWORD)
    assert first.status_code == 202, first.json
    assert first.json["otp_required"] is True and first.json["channel"] == "sms"
    assert "token" not in first.json
    assert sms.received[-1]["to"] == "13800000001" and "验证码" in sms.received[-1]["text"]
    code = _code(sms)
    wrong = client.post(f"{TOKEN}/otp", json={"challenge": first.json["challenge"], "code": "000000" if code != "000000"
                                               else "111111"})
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "otp_invalid"
    done = client.post(f"{TOKEN}/otp", json={"challenge": first.json["challenge"], "code": code, "scopes": ["read"]})
    assert done.status_code == 201 and done.json["scopes"] == ["read"]
    assert client.get("/api/v1/me", headers=_bearer(done.json["token"])).json["username"] == "handler_wulin"
    # A code works once.
    again = client.post(f"{TOKEN}/otp", json={"challenge": first.json["challenge"], "code": code})
    assert again.status_code == 401 and again.json["error"]["code"] == "otp_expired"


def test_the_code_is_stored_only_as_a_salted_hash(client, otp_user, sms):
    challenge = _sign_in(client, "handler_wulin", DEMO_PASSWORD).json["challenge"]
    code = _code(sms)
    row = db.session.scalar(select(OtpChallenge).where(OtpChallenge.user_id == otp_user.id))
    stored = " ".join(str(v) for v in (row.secret_hash, row.code_hash, row.channel))
    assert code not in stored and challenge not in stored
    import hashlib

    assert row.code_hash != hashlib.sha256(code.encode()).hexdigest()


def test_a_code_expires_after_five_minutes(client, otp_user, sms, clock):
    challenge = _sign_in(client, "handler_wulin", DEMO_PASSWORD).json["challenge"]
    clock.advance(minutes=5)
    resp = client.post(f"{TOKEN}/otp", json={"challenge": challenge, "code": _code(sms)})
    assert resp.status_code == 401 and resp.json["error"]["code"] == "otp_expired"


def test_a_code_has_limited_attempts(client, app, otp_user, sms):
    app.config["OTP_MAX_ATTEMPTS"] = 2
    try:
        challenge = _sign_in(client, "handler_wulin", DEMO_PASSWORD).json["challenge"]
        code = _code(sms)
        for _ in range(2):
            assert client.post(f"{TOKEN}/otp", json={"challenge": challenge, "code": "x"}).status_code == 401
        resp = client.post(f"{TOKEN}/otp", json={"challenge": challenge, "code": code})
    finally:
        app.config["OTP_MAX_ATTEMPTS"] = 5
    assert resp.status_code == 401 and resp.json["error"]["code"] == "otp_expired"


def test_a_new_sign_in_ends_the_earlier_code(client, otp_user, sms):
    old = _sign_in(client, "handler_wulin", DEMO_PASSWORD).json["challenge"]
    old_code = _code(sms)
    _sign_in(client, "handler_wulin", DEMO_PASSWORD)
    resp = client.post(f"{TOKEN}/otp", json={"challenge": old, "code": old_code})
    assert resp.status_code == 401 and resp.json["error"]["code"] == "otp_expired"


def test_the_web_sign_in_asks_for_the_code(client, otp_user, sms):
    resp = client.post("/login", data={"username": "handler_wulin", "password": DEMO_PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login/code")
    page = client.get("/login/code").get_data(as_text=True)
    assert "验证码已通过短信发送到您的手机" in page
    with client.session_transaction() as s:
        assert "_user_id" not in s  # not signed in yet
    wrong = client.post("/login/code", data={"code": "abc"})
    assert wrong.status_code == 401 and "验证码错误" in wrong.get_data(as_text=True)
    done = client.post("/login/code", data={"code": _code(sms)})
    assert done.status_code == 302
    assert client.get("/api/v1/me").json["username"] == "handler_wulin"


def test_the_code_page_without_a_pending_sign_in_goes_back_to_sign_in(client):
    resp = client.get("/login/code")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/login")


def test_a_code_by_email_when_the_user_has_no_phone(client, app, ctx):
    user = _user("handler_chaohui")
    user.email = "chaohui@example.org"
    auth.set_otp_required(user, True)
    db.session.commit()
    with smtp_server() as (mailbox, port):
        app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port, OTP_SENDER="channels")
        try:
            resp = _sign_in(client, "handler_chaohui", DEMO_PASSWORD)
        finally:
            app.config.update(SMTP_HOST=None, SMTP_PORT=25)
    assert resp.status_code == 202 and resp.json["channel"] == "email"
    assert mailbox.envelopes[-1][1] == ["chaohui@example.org"]
    assert re.search(r"\b\d{6}\b", mailbox.messages[-1].get_content())


def test_a_gateway_failure_is_a_503_and_leaves_no_challenge(client, otp_user, sms):
    sms.always = 500
    tokens = _count(ApiToken)
    resp = _sign_in(client, "handler_wulin", DEMO_PASSWORD)
    assert resp.status_code == 503 and resp.json["error"]["code"] == "otp_not_sent"
    assert _count(OtpChallenge) == 0 and _count(ApiToken) == tokens


def test_the_console_sender_prints_the_code(client, app, otp_user, capsys):
    app.config["OTP_SENDER"] = "console"
    try:
        resp = _sign_in(client, "handler_wulin", DEMO_PASSWORD)
    finally:
        app.config["OTP_SENDER"] = "channels"
    assert resp.status_code == 202 and resp.json["channel"] == "console"
    code = re.search(r"code for handler_wulin: (\d{6})", capsys.readouterr().err).group(1)
    assert client.post(f"{TOKEN}/otp", json={"challenge": resp.json["challenge"], "code": code}).status_code == 201


def test_codes_need_somewhere_to_go(ctx):
    user = _user("deputy_li")
    user.phone, user.email = "", ""
    with pytest.raises(InvalidInput) as exc:
        auth.set_otp_required(user, True)
    assert exc.value.code == "otp_needs_address"


def test_the_cli_switches_codes_on_and_off(ctx):
    runner = ctx.test_cli_runner()
    user = _user("handler_wulin")
    user.phone = "13800000001"
    assert runner.invoke(args=["users", "otp", "handler_wulin", "--on"]).exit_code == 0
    assert user.otp_required
    assert runner.invoke(args=["users", "otp", "handler_wulin", "--off"]).exit_code == 0
    assert not user.otp_required


# ---------------------------------------------------------------------------- intake rate limits


@pytest.fixture
def limits(app: Flask) -> Iterator[Flask]:
    """Intake limits on, small, with fresh counters."""
    from ticketing.ratelimit import limiter

    saved = {k: app.config[k] for k in ("RATE_LIMITS_ENABLED", "INTAKE_LIMIT_PER_USER", "INTAKE_LIMIT_PER_IP")}
    app.config.update(RATE_LIMITS_ENABLED=True, INTAKE_LIMIT_PER_USER="2/hour", INTAKE_LIMIT_PER_IP="100/hour")
    limiter.reset()
    try:
        yield app
    finally:
        app.config.update(saved)
        limiter.reset()


def test_limits_are_off_in_the_testing_config_and_on_by_default():
    import config

    assert config.select("testing").RATE_LIMITS_ENABLED is False
    assert config.select("production").RATE_LIMITS_ENABLED is True
    assert config.select("production").INTAKE_LIMIT_PER_USER == "30/hour"
    assert config.select("production").INTAKE_LIMIT_PER_IP == "60/hour"


def test_a_deputy_over_the_hourly_allowance_gets_429_in_the_envelope(api, limits):
    assert api.report("deputy_wang").status_code == 201
    assert api.report("deputy_wang").status_code == 201
    before = _count(Ticket)
    refused = api.report("deputy_wang")
    assert refused.status_code == 429 and refused.json["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0 and refused.headers["X-RateLimit-Limit"] == "2"
    assert _count(Ticket) == before
    assert api.report("deputy_li").status_code == 201  # per user


def test_refused_reports_do_not_use_up_the_allowance(api, limits):
    for _ in range(3):
        assert api.report("deputy_wang", category="no.such").status_code == 422
    assert api.report("deputy_wang").status_code == 201


def test_the_address_limit_counts_every_attempt_from_it(api, limits):
    limits.config["INTAKE_LIMIT_PER_IP"] = "3/hour"
    assert api.report("deputy_wang").status_code == 201
    assert api.report("deputy_li", category="no.such").status_code == 422
    assert api.report("deputy_li").status_code == 201
    assert api.report("deputy_li").status_code == 429
    other = api.client.post("/api/v1/tickets", data=_report_form(), headers=api.headers("deputy_li"),
                            content_type="multipart/form-data", environ_base={"REMOTE_ADDR": "10.3.3.3"})
    assert other.status_code == 201


def test_the_page_and_open311_share_the_allowance_and_answer_in_their_formats(api, client, limits):
    assert api.report("deputy_wang").status_code == 201
    client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD})
    page = client.post("/deputy/report", data=_report_form(), content_type="multipart/form-data")
    assert page.status_code in (302, 303), page.get_data(as_text=True)[:500]
    refused = client.post("/deputy/report", data=_report_form(), content_type="multipart/form-data")
    assert refused.status_code == 429 and "您在短时间内提交的反映过多" in refused.get_data(as_text=True)
    open311 = client.post("/open311/v2/requests.json", data={
        "api_key": api.token("deputy_wang"), "service_code": "city.litter", "lat": TIANSHUI[1], "long": TIANSHUI[0],
        "description": "x"})
    assert open311.status_code == 429
    assert open311.json == [{"code": 429, "description": "too many requests; try again later"}]
    assert open311.headers["Retry-After"]
