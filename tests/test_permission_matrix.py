"""The permission matrix (issue 8): every role × every ticket action × the actor's unit standing.

The ticket under test is always a 天水街道 (330105012) work order reported by deputy_wang
(a citizen's report to deputy_wang for `forward`/`decline`). For each role the actor stands to
it in one of three ways:

- ``own``: a deputy who reported it; a handler or supervisor or admin of 天水街道 itself;
- ``sibling``: another deputy (deputy_li); a handler, supervisor or admin of 武林街道
  (330105013), the next street in the same district;
- ``parent``: a deputy of the city (330100); a handler, supervisor or admin of the district
  (330103), the unit directly above 天水街道.

An unscoped admin (no unit, like the demo ``admin``) is one more row, ``global``.

What the actor may do is read from the small table ``STANDING`` below, written by hand from
DESIGN.md §2 rather than computed by ``services/access.py``: which workflow relations the
actor holds (an empty set: the ticket is invisible). An action is then allowed iff its rule in
``workflow.TRANSITIONS`` needs one of those relations. The API must answer

- 404 ``ticket_not_found`` when the ticket is invisible (for every action, allowed or not);
- 403 when it is visible but the rule needs a relation the actor lacks;
- otherwise 200 — each case first brings the ticket (through the API, as the people who
  would) into a state where the action applies, so an allowed action really goes through.

A denied call writes no event. `auto_close` is the worker's (Relation.SYSTEM) and has no
endpoint, so it is not in the matrix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import NOW, TIANSHUI, jpeg
from ticketing.workflow import TRANSITIONS, Action, Relation, Role

R = Relation
OWN, SIBLING, PARENT, GLOBAL = "own", "sibling", "parent", "global"

# role × standing → the relations held (empty = may not see the ticket). Written by hand.
STANDING: dict[tuple[Role, str], frozenset[Relation]] = {
    (Role.DEPUTY, OWN): frozenset({R.REPORTER, R.VIEWER}),
    (Role.DEPUTY, SIBLING): frozenset(),  # deputies see only their own reports
    (Role.DEPUTY, PARENT): frozenset(),
    (Role.HANDLER, OWN): frozenset({R.HANDLING_UNIT, R.CO_HANDLER, R.VIEWER}),
    (Role.HANDLER, SIBLING): frozenset(),  # a street never sees another street's tickets
    (Role.HANDLER, PARENT): frozenset(),  # handlers are not supervisors: no sight downwards
    (Role.SUPERVISOR, OWN): frozenset({R.SUPERVISOR, R.VIEWER}),
    (Role.SUPERVISOR, SIBLING): frozenset(),
    (Role.SUPERVISOR, PARENT): frozenset({R.SUPERVISOR, R.VIEWER}),  # a district oversees its streets
    (Role.ADMIN, OWN): frozenset({R.SUPERVISOR, R.VIEWER}),  # a unit-scoped admin oversees like a supervisor
    (Role.ADMIN, SIBLING): frozenset(),
    (Role.ADMIN, PARENT): frozenset({R.SUPERVISOR, R.VIEWER}),
    (Role.ADMIN, GLOBAL): frozenset({R.SUPERVISOR, R.VIEWER}),  # no unit: oversees everything
}

# role × standing → the user (demo users where the demo has one; else created for the test: unit code).
USERS: dict[tuple[Role, str], tuple[str, str | None]] = {
    (Role.DEPUTY, OWN): ("deputy_wang", None),
    (Role.DEPUTY, SIBLING): ("deputy_li", None),
    (Role.DEPUTY, PARENT): ("pm_deputy_city", "330100"),
    (Role.HANDLER, OWN): ("handler_tianshui", None),
    (Role.HANDLER, SIBLING): ("handler_wulin", None),
    (Role.HANDLER, PARENT): ("pm_handler_district", "330103"),
    (Role.SUPERVISOR, OWN): ("supervisor_tianshui", None),
    (Role.SUPERVISOR, SIBLING): ("pm_supervisor_wulin", "330105013"),
    (Role.SUPERVISOR, PARENT): ("supervisor_district", None),
    (Role.ADMIN, OWN): ("pm_admin_tianshui", "330105012"),
    (Role.ADMIN, SIBLING): ("pm_admin_wulin", "330105013"),
    (Role.ADMIN, PARENT): ("pm_admin_district", "330103"),
    (Role.ADMIN, GLOBAL): ("admin", None),
}

ACTIONS = [a for a, rule in TRANSITIONS.items() if R.SYSTEM not in rule.relations]


# Allowed by the table, but the service narrows it further: (action, standing) for supervisors and
# admins → the answer and error code. A street's extension request is decided one level up (the
# district), so the street's own supervisor is refused (403 not_the_decider); a street supervisor
# may transfer only inside its own area, which holds no other unit (422 unit_outside_scope).
NARROWER: dict[tuple[Action, str], tuple[int, str]] = {
    (Action.EXTENSION_DECISION, OWN): (403, "not_the_decider"),
    (Action.TRANSFER, OWN): (422, "unit_outside_scope"),
}


def expected(role: Role, standing: str, action: Action) -> tuple[int, str | None]:
    """The status (and error code) the API must answer `role` standing `standing` taking `action`."""
    held = STANDING[(role, standing)]
    if not held:
        return 404, "ticket_not_found"
    if not TRANSITIONS[action].relations & held:
        return 403, "action_forbidden"
    if role in (Role.SUPERVISOR, Role.ADMIN) and (action, standing) in NARROWER:
        return NARROWER[(action, standing)]
    return 200, None


def test_the_matrix_covers_every_user_action():
    assert {a for a, r in TRANSITIONS.items() if R.SYSTEM in r.relations} == {Action.AUTO_CLOSE}
    assert set(ACTIONS) == set(TRANSITIONS) - {Action.AUTO_CLOSE}
    assert {role for role, _ in STANDING} == set(Role)
    assert STANDING.keys() == USERS.keys()


# ---------------------------------------------------------------------------- setting a ticket up

def _ok(resp: Any) -> Any:
    assert resp.status_code in (200, 201), resp.json
    return resp.json


class Case:
    """Makes tickets in the state an action needs, and knows the request that takes the action."""

    def __init__(self, api: Any, app: Any):
        self.api = api
        self.app = app

    def post(self, number: str, verb: str, user: str, **kw: Any) -> Any:
        return self.api.post(f"/api/v1/tickets/{number}/{verb}", user, **kw)

    def dispatched(self) -> str:
        t = _ok(self.api.report("deputy_wang"))
        assert t["handling_unit"]["code"] == "330105012" and t["state"] == "dispatched"
        return t["number"]  # type: ignore[no-any-return]

    def accepted(self) -> str:
        n = self.dispatched()
        _ok(self.post(n, "accept", "handler_tianshui", json={"note": "收到"}))
        return n

    def returned(self) -> str:
        n = self.dispatched()
        _ok(self.post(n, "return", "handler_tianshui", json={"reason": "不归我们"}))
        return n

    def resolved(self) -> str:
        n = self.accepted()
        _ok(self.post(n, "resolve", "handler_tianshui", data={"note": "清理完毕", "outcome": "solved"},
                      photos=[jpeg((10, 200, 10))]))
        return n

    def closed(self) -> str:
        n = self.resolved()
        _ok(self.post(n, "rate", "deputy_wang", json={"score": "satisfied"}))
        return n

    def pending_review(self) -> str:
        from ticketing.services import citizen
        from ticketing.services.photos import Upload

        deputy = _user("deputy_wang")
        received = citizen.report(
            citizen.live_code(deputy, NOW).code, form_key=citizen.new_form_key(), category_code="city.litter",
            description="楼下垃圾", lon=TIANSHUI[0], lat=TIANSHUI[1], uploads=[Upload("c.jpg", jpeg())],
            now=NOW, settings=self.app.extensions["ticket_settings"], store=self.app.extensions["photo_store"],
            secret="testing", link_days=30, link_for=lambda token: "https://ssp.example/t/" + token,
        )
        _commit()  # else the API's rollback after a refused call takes the report away too
        return received.ticket.number  # type: ignore[no-any-return]

    def prepare(self, action: Action) -> tuple[str, Callable[[str], Any]]:
        """A fresh ticket where `action` applies, and the call that takes it as a given user."""
        simple: dict[Action, tuple[Callable[[], str], dict[str, Any]]] = {
            Action.FORWARD: (self.pending_review, {"json": {"note": "请处理"}}),
            Action.DECLINE: (self.pending_review, {"json": {"reason": "不属于人大职责"}}),
            Action.ACCEPT: (self.dispatched, {"json": {"note": "收到"}}),
            Action.RETURN: (self.dispatched, {"json": {"reason": "不归我们"}}),
            Action.REDISPATCH: (self.returned, {"json": {"note": "请再办"}}),
            Action.PROGRESS: (self.accepted, {"data": {"note": "在办"}, "photos": [jpeg()]}),
            Action.ASSIGN: (self.dispatched, {"json": {"assignee": "handler_tianshui2"}}),
            Action.TRANSFER: (self.dispatched, {"json": {"unit": "330105016", "note": "朝晖的"}}),
            Action.COHANDLE: (self.dispatched, {"json": {"units": ["330103-ZF"], "note": "请执法局配合"}}),
            Action.RESOLVE: (self.accepted, {"data": {"note": "好了", "outcome": "solved"}, "photos": [jpeg()]}),
            Action.RATE: (self.resolved, {"json": {"score": "satisfied"}}),
            Action.CLOSE: (self.resolved, {"json": {"note": "未评价，结案"}}),
            Action.REOPEN: (self.closed, {"json": {"reason": "又堆起来了"}}),
            Action.INVALID: (self.dispatched, {"json": {"reason": "无效"}}),
            Action.WITHDRAW: (self.dispatched, {"json": {"note": "已自行解决"}}),
            Action.URGE: (self.dispatched, {"json": {"note": "请尽快"}}),
            Action.ADD_INFO: (self.dispatched, {"data": {"note": "补充"}, "photos": [jpeg()]}),
            Action.COMMENT: (self.dispatched, {"json": {"note": "看看"}}),
            Action.REVIEW: (self.closed, {"json": {"note": "回头看：已解决"}}),
        }
        if action in simple:
            make, kw = simple[action]
            n = make()
            return n, lambda user: self.post(n, action.value, user, **kw)
        if action == Action.DUPLICATE:
            original = self.dispatched()
            n = self.dispatched()
            return n, lambda user: self.post(n, "duplicate", user, json={"original": original, "note": "重复"})
        if action == Action.EXTENSION_REQUEST:
            n = self.accepted()
            return n, lambda user: self.post(n, "extension", user, json={"days": 3, "reason": "需协调"})
        if action == Action.EXTENSION_DECISION:
            n = self.accepted()
            body = _ok(self.post(n, "extension", "handler_tianshui", json={"days": 3, "reason": "需协调"}))
            ext_id = _pending_extension(body)
            return n, lambda user: self.post(n, f"extension/{ext_id}/decide", user,
                                             json={"approve": True, "note": "同意"})
        raise AssertionError(f"no set-up for {action}")


def _pending_extension(ticket: dict[str, Any]) -> int:
    from ticketing.extensions import db
    from ticketing.models import Extension, Ticket

    t = db.session.scalar(select(Ticket).where(Ticket.number == ticket["number"]))
    ext_id = db.session.scalar(select(Extension.id).where(Extension.ticket_id == t.id))
    assert ext_id is not None
    return ext_id  # type: ignore[no-any-return]


def _user(username: str) -> Any:
    from ticketing.extensions import db
    from ticketing.models import User

    return db.session.scalar(select(User).where(User.username == username))


def _events() -> int:
    from ticketing.extensions import db
    from ticketing.models import TicketEvent

    return db.session.scalar(select(func.count()).select_from(TicketEvent)) or 0


def _sign_in(api: Any, username: str, unit: str | None, role: Role) -> None:
    """A token for `username` (created with `unit` if the demo lacks it), without the password round."""
    from ticketing.services import auth

    user = _user(username)
    if user is None:
        user = auth.create_user(username=username, password="matrix-password-1", display_name=username,
                                role=role.value, unit_code=unit, now=NOW)
    api.tokens[username] = auth.issue_token(user, NOW, days=1)
    _commit()


def _commit() -> None:
    """Commit the test's own writes (a SAVEPOINT release: the `ctx` fixture still rolls them back)."""
    from ticketing.extensions import db

    db.session.commit()


# ---------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.value)
def test_permission_matrix(api, app, clock, action, role):
    case = Case(api, app)
    for (r, standing), (username, unit) in USERS.items():
        if r == role:
            _sign_in(api, username, unit, role)
    wrong: list[str] = []
    for (r, standing), (username, _) in USERS.items():
        if r != role:
            continue
        want, want_code = expected(role, standing, action)
        _, call = case.prepare(action)
        before = _events()
        resp = call(username)
        got = resp.status_code
        body = resp.json or {}
        code = body.get("error", {}).get("code")
        if (got, code) != (want, want_code):
            wrong.append(f"{standing} ({username}): want {want} {want_code}, got {got} {body.get('error')}")
        elif want != 200 and _events() != before:
            wrong.append(f"{standing} ({username}): a refused call wrote an event")
        elif want == 200 and _events() == before:
            wrong.append(f"{standing} ({username}): an allowed call wrote no event")
    assert not wrong, f"{role.value} × {action.value}:\n" + "\n".join(wrong)
