"""The whole loop in a real Chromium, as four people (issue 6): the deputy reports from her phone with a
photo, the street handler accepts and resolves with a photo, the deputy rates 不满意 and the ticket comes
back for a second round, and after a time-travelled worker run the district supervisor finds it among the
tickets that need attention. Screenshots: var/screenshots/loop-*.png."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from tests.conftest import ROOT, TIANSHUI, jpeg
from tests.web.conftest import DESKTOP, PHONE, shot, sign_in
from ticketing.extensions import db
from ticketing.models import Ticket
from ticketing.workflow import State

HERE = {"latitude": TIANSHUI[1], "longitude": TIANSHUI[0], "accuracy": 10}


def _ticket(live_app: Any, description: str) -> dict[str, Any]:
    with live_app.app_context():
        t = db.session.scalar(select(Ticket).where(Ticket.description == description))
        assert t is not None
        seen = {"number": t.number, "state": t.state, "round": t.round, "unit": t.handling_unit.code,
                "level": t.escalation_level, "photos": len(t.photos)}
        db.session.remove()
    return seen


def _photo(name: str, color: tuple[int, int, int]) -> dict[str, Any]:
    return {"name": name, "mimeType": "image/jpeg", "buffer": jpeg(color, size=(800, 600))}


def _worker_once(live_app: Any, at: datetime) -> None:
    """`python -m workers --once --at ...` on the live database, as an operator would run it."""
    env = {**os.environ, "DATABASE_URL": live_app.config["DATABASE_URL"], "SUISHOUPAI_ENV": "testing",
           "SUISHOUPAI_PHOTO_DIR": live_app.config["PHOTO_DIR"]}
    done = subprocess.run([sys.executable, "-m", "workers", "--once", "--at", at.isoformat()], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


def _travel(monkeypatch: Any, delta: timedelta) -> None:
    """Move the live server's clock (the one every view reads: api.context.now) by `delta`."""
    import ticketing.api.context as context

    class Later(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
            return datetime.now(tz) + delta

    monkeypatch.setattr(context, "datetime", Later)


def test_report_handle_reject_and_escalate_as_four_people(new_page, live_app, monkeypatch):
    description = f"人行道井盖松动 {uuid.uuid4().hex[:8]}"

    # 1. The deputy, on her phone.
    deputy = new_page(viewport=PHONE, geolocation=HERE, permissions=["geolocation"])
    sign_in(deputy, "deputy_wang")
    deputy.goto("/deputy/report")
    deputy.wait_for_function("document.getElementById('lon').value !== ''")
    deputy.set_input_files("#photos", files=[_photo("before.jpg", (150, 40, 40))])
    deputy.click("label[for=domain-city]")
    deputy.click("label.chip:has-text('垃圾乱扔')")
    deputy.fill("#description", description)
    shot(deputy, "loop-1-deputy-reports-phone")
    deputy.click("#submit")
    deputy.wait_for_url("**/deputy/tickets/*")
    ticket = _ticket(live_app, description)
    assert ticket["unit"] == "330105012" and ticket["photos"] == 1 and ticket["state"] == State.DISPATCHED
    number = ticket["number"]

    # 2. The 天水街道 handler, at a desk.
    handler = new_page(viewport=DESKTOP)
    sign_in(handler, "handler_tianshui")
    handler.goto(f"/workbench/?q={number}")
    handler.click(f"tr[data-number='{number}'] a")
    handler.fill("#accept-note", "马上派人核实")
    handler.click("#form-accept button[type=submit]")
    handler.wait_for_selector("#form-resolve")
    handler.click("#form-resolve summary")
    handler.check("#form-resolve input[name=outcome][value=solved]")
    handler.fill("#resolve-note", "已更换井盖")
    handler.set_input_files("#resolve-photos", files=[_photo("after.jpg", (40, 150, 40))])
    handler.click("#form-resolve button[type=submit]")
    handler.wait_for_selector("#no-actions")
    shot(handler, "loop-2-handler-resolved-desktop")
    assert _ticket(live_app, description)["state"] == State.RESOLVED

    # 3. The deputy is not satisfied: the ticket comes back for a second round.
    deputy.goto(f"/deputy/tickets/{number}")
    deputy.check("#rating input[name=score][value=unsatisfied]")
    deputy.fill("#rating textarea[name=comment]", "井盖还是松的")
    deputy.click("#rating button[type=submit]")
    deputy.wait_for_load_state("networkidle")
    shot(deputy, "loop-3-deputy-unsatisfied-phone")
    again = _ticket(live_app, description)
    assert again["state"] == State.DISPATCHED and again["round"] == 2 and again["unit"] == "330105012"

    # 4. Nobody takes round 2; a week later the worker has escalated it to the district, and the
    #    district supervisor (looking a week later too) finds it overdue.
    _worker_once(live_app, datetime.now(timezone.utc) + timedelta(days=7))
    assert _ticket(live_app, description)["level"] >= 1
    _travel(monkeypatch, timedelta(days=7, minutes=5))
    supervisor = new_page(viewport=DESKTOP)
    sign_in(supervisor, "supervisor_district")
    supervisor.goto("/supervision/")
    row = supervisor.locator(f"tr[data-number='{number}']").first
    row.wait_for()
    assert "天水街道" in row.inner_text() and "超期" in row.inner_text() and "下城区" in row.inner_text()
    shot(supervisor, "loop-4-supervisor-sees-it-desktop")
