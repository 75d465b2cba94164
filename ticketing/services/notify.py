"""Who hears of what: outbox rows for every trail step, reminder and escalation.

Rows are written in the caller's transaction (so a rolled-back step notifies nobody)
and delivered later by the worker (`ticketing.services.outbox`); a failed delivery
never touches the ticket. Every row carries a `dedupe_key`, so the same message to the
same person on the same channel exists at most once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from ticketing.extensions import db
from ticketing.models import Channel, DeliveryState, Notification, OrgUnit, Ticket, TicketEvent, TicketFollower, User
from ticketing.workflow import Action, Role

# Who hears of a trail step, by action: the reporter (and followers), the handling unit's
# handlers, the supervisors watching the ticket.
REPORTER, UNIT, WATCHERS = "reporter", "unit", "watchers"
AUDIENCE: dict[Action, frozenset[str]] = {
    Action.REPORT: frozenset({UNIT}),
    # A citizen's report forwarded by its deputy: a new work order for the unit.
    Action.FORWARD: frozenset({UNIT}),
    Action.ACCEPT: frozenset({REPORTER}),
    Action.RETURN: frozenset({REPORTER, WATCHERS}),
    Action.REDISPATCH: frozenset({REPORTER, UNIT}),
    Action.PROGRESS: frozenset({REPORTER}),
    Action.ASSIGN: frozenset({UNIT}),
    Action.TRANSFER: frozenset({REPORTER, UNIT}),
    Action.COHANDLE: frozenset({UNIT}),
    Action.RESOLVE: frozenset({REPORTER, WATCHERS}),
    Action.RATE: frozenset({UNIT, WATCHERS}),
    Action.CLOSE: frozenset({REPORTER, UNIT}),
    Action.AUTO_CLOSE: frozenset({REPORTER, UNIT}),
    Action.REOPEN: frozenset({REPORTER, UNIT}),
    Action.INVALID: frozenset({REPORTER, UNIT}),
    Action.DUPLICATE: frozenset({REPORTER, UNIT}),
    Action.WITHDRAW: frozenset({UNIT}),
    Action.URGE: frozenset({UNIT, WATCHERS}),
    Action.ADD_INFO: frozenset({UNIT}),
    Action.COMMENT: frozenset({REPORTER, UNIT}),
    Action.SUPERVISE: frozenset({UNIT, WATCHERS}),
    Action.EXTENSION_REQUEST: frozenset({WATCHERS}),
    Action.EXTENSION_DECISION: frozenset({UNIT}),
}

SUBJECTS: dict[str, str] = {
    "report": "新工单 {number}",
    "forward": "新工单 {number}（群众反映，代表转交）",
    "accept": "工单 {number} 已受理",
    "return": "工单 {number} 被退回",
    "redispatch": "工单 {number} 重新派发",
    "progress": "工单 {number} 有新进展",
    "assign": "工单 {number} 已指派",
    "transfer": "工单 {number} 已转办",
    "cohandle": "工单 {number} 请求协办",
    "resolve": "工单 {number} 已办结，请评价",
    "rate": "工单 {number} 已评价",
    "close": "工单 {number} 已关闭",
    "auto_close": "工单 {number} 超时未评价，已关闭",
    "reopen": "工单 {number} 重新办理",
    "invalid": "工单 {number} 被认定为无效",
    "duplicate": "工单 {number} 被认定为重复",
    "withdraw": "工单 {number} 已撤回",
    "urge": "工单 {number} 被催办",
    "add_info": "工单 {number} 有补充信息",
    "comment": "工单 {number} 有新留言",
    "supervise": "工单 {number} 列入挂牌督办",
    # A `supervise` event with data.listed false: the supervision-list item was removed (销号).
    "supervise_removed": "工单 {number} 挂牌督办已销号",
    "extension_request": "工单 {number} 申请延期",
    "extension_decision": "工单 {number} 延期申请已答复",
    "remind": "工单 {number} 即将到期",
    "escalate": "工单 {number} 超期升级",
    "calendar": "{year} 年节假日安排尚未导入",
}


@dataclass(frozen=True)
class Message:
    """One message to be sent to some people; fanned out into outbox rows per person and channel."""

    kind: str
    subject: str
    body: str
    dedupe_base: str
    ticket_id: int | None = None
    event_id: int | None = None


def channels_for(user: User) -> list[tuple[Channel, str]]:
    """The channels a person is reached on: the in-app inbox always, email and SMS when known."""
    out = [(Channel.INBOX, "")]
    if user.email:
        out.append((Channel.EMAIL, user.email))
    if user.phone:
        out.append((Channel.SMS, user.phone))
    return out


def rows_for(message: Message, users: Iterable[User], now: datetime) -> list[dict[str, Any]]:
    """Outbox rows (as plain dicts, for bulk inserts) for `message` to each active user."""
    rows = []
    seen: set[int] = set()
    for user in users:
        if not user.active or user.id in seen:
            continue
        seen.add(user.id)
        for channel, address in channels_for(user):
            rows.append(
                {
                    "dedupe_key": f"{message.dedupe_base}:{user.id}:{channel.value}",
                    "user_id": user.id,
                    "channel": channel,
                    "address": address,
                    "ticket_id": message.ticket_id,
                    "event_id": message.event_id,
                    "kind": message.kind,
                    "subject": message.subject[:200],
                    "body": message.body,
                    # The inbox is delivered by being stored.
                    "state": DeliveryState.SENT if channel == Channel.INBOX else DeliveryState.PENDING,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "last_error": "",
                    "created_at": now,
                    "sent_at": now if channel == Channel.INBOX else None,
                }
            )
    return rows


def insert_rows(rows: Sequence[dict[str, Any]]) -> int:
    """Insert outbox rows, skipping any whose dedupe_key exists already; returns how many were new."""
    if not rows:
        return 0
    from ticketing.services.bulk import insert_ignoring_duplicates

    return insert_ignoring_duplicates(Notification.__table__, rows, "dedupe_key")


def unit_users(unit_ids: Iterable[int], role: Role) -> list[User]:
    """Active users of `role` in any of these units."""
    ids = list(set(unit_ids))
    if not ids:
        return []
    return list(
        db.session.scalars(
            select(User).where(User.unit_id.in_(ids), User.role == role, User.active.is_(True)).order_by(User.id)
        )
    )


def watcher_units(ticket: Ticket) -> list[int]:
    """Units whose supervisors watch the ticket: the handling unit's own, and each escalated level above."""
    chain = escalation_chain(ticket.handling_unit)
    return [ticket.handling_unit_id, *chain[: ticket.escalation_level]]


def escalation_chain(unit: OrgUnit) -> list[int]:
    """Ids of the levels above a unit's owning level, nearest first (see OrgTree.chain)."""
    from ticketing.services.orgtree import OrgTree

    return OrgTree.around(unit).chain(unit.id)


def for_event(event: TicketEvent, now: datetime) -> int:
    """Queue the notifications of one trail step to the people concerned; returns rows added."""
    return insert_rows(_event_rows(event, now, unit_users))


def for_events(events: Sequence[TicketEvent], now: datetime) -> int:
    """`for_event` for many steps at once (a bulk import): the same rows, but each set of units'
    handlers or supervisors is read once and every row goes in one INSERT; returns rows added."""
    seen: dict[tuple[tuple[int, ...], Role], list[User]] = {}

    def users_of(unit_ids: Iterable[int], role: Role) -> list[User]:
        key = (tuple(sorted(set(unit_ids))), role)
        if key not in seen:
            seen[key] = unit_users(key[0], role)
        return seen[key]

    return insert_rows([row for event in events for row in _event_rows(event, now, users_of)])


def _event_rows(
    event: TicketEvent, now: datetime, users_of: Callable[[Iterable[int], Role], list[User]]
) -> list[dict[str, Any]]:
    audience = AUDIENCE.get(event.action)
    if not audience:
        return []
    ticket = event.ticket
    users: list[User] = []
    if REPORTER in audience:
        users += [u for u in (ticket.reporter,) if u is not None]
        if ticket.deputy_id is not None and ticket.deputy_id != ticket.reporter_id:
            # A citizen's report forwarded by a deputy is the deputy's to follow (citizen channel).
            users += [u for u in (db.session.get(User, ticket.deputy_id),) if u is not None]
        follower_ids = list(db.session.scalars(select(TicketFollower.user_id).where(TicketFollower.ticket_id == ticket.id)))
        if follower_ids:
            users += list(db.session.scalars(select(User).where(User.id.in_(follower_ids))))
    if UNIT in audience:
        units = [ticket.handling_unit_id, *(c.unit_id for c in ticket.co_handlers)]
        users += users_of(units, Role.HANDLER)
    if WATCHERS in audience:
        users += users_of(watcher_units(ticket), Role.SUPERVISOR)
    if event.actor_id is not None:
        users = [u for u in users if u.id != event.actor_id]  # nobody is told what they just did
    message = Message(
        kind=event.action.value,
        subject=SUBJECTS.get(_subject_key(event), "工单 {number}").format(number=ticket.number),
        body=_body(ticket, event),
        dedupe_base=f"event:{event.id}",
        ticket_id=ticket.id,
        event_id=event.id,
    )
    return rows_for(message, users, now)


def _subject_key(event: TicketEvent) -> str:
    if event.action == Action.SUPERVISE and event.data.get("listed") is False:
        return "supervise_removed"
    return event.action.value


def _body(ticket: Ticket, event: TicketEvent) -> str:
    lines = [f"{ticket.number} {ticket.category.name}：{ticket.description[:120]}"]
    if event.note:
        lines.append(event.note[:500])
    lines.append(f"处理单位：{ticket.handling_unit.name}；状态：{ticket.state.value}")
    return "\n".join(lines)
