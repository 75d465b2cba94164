"""Sign-in page: Chinese by default, English on request, wrong passwords refused."""

from __future__ import annotations

from ticketing.demo import DEMO_PASSWORD


def test_login_page_is_chinese_by_default(client):
    resp = client.get("/login")
    assert resp.status_code == 200
    assert "登录" in resp.get_data(as_text=True)


def test_english_is_available(client):
    resp = client.get("/login?lang=en")
    assert "Sign in" in resp.get_data(as_text=True)


def test_wrong_password_is_refused(client):
    resp = client.post("/login", data={"username": "deputy_wang", "password": "nope"})
    assert resp.status_code == 401
    assert "用户名或密码错误" in resp.get_data(as_text=True)


def test_sign_in_shows_who(client):
    resp = client.post("/login", data={"username": "deputy_wang", "password": DEMO_PASSWORD}, follow_redirects=True)
    body = resp.get_data(as_text=True)
    assert "王代表" in body and "代表" in body


def test_index_shows_when_the_worker_last_swept(client, ctx):
    from datetime import datetime, timezone

    from ticketing.extensions import db
    from ticketing.services import worker_runs

    assert "no deadline sweep has finished yet" in client.get("/?lang=en").get_data(as_text=True)
    worker_runs.finished("sweep", datetime(2026, 3, 2, 1, 0, 5, tzinfo=timezone.utc),
                         datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc), {"examined": 3})
    db.session.commit()
    body = client.get("/?lang=en").get_data(as_text=True)
    assert "last deadline sweep finished 2026-03-02 09:00:05" in body  # shown in Shanghai time
    health = client.get("/api/v1/health").json
    assert health["worker"]["sweep"]["counts"] == {"examined": 3}
