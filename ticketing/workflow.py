"""The ticket lifecycle: states, actions and the one transition table.

Plain Python, no Flask and no database: services look a rule up here, check its
guards against the ticket and the actor, then apply it. DESIGN.md §4 is the brief.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    PENDING_REVIEW = "pending_review"
    DECLINED = "declined"
    DISPATCHED = "dispatched"
    ACCEPTED = "accepted"
    RETURNED = "returned"
    RESOLVED = "resolved"
    CLOSED = "closed"
    INVALID = "invalid"
    DUPLICATE = "duplicate"


OPEN_STATES = frozenset(
    {State.PENDING_REVIEW, State.DISPATCHED, State.ACCEPTED, State.RETURNED, State.RESOLVED}
)
# States in which the handling unit still owes work (deadlines run).
WORKING_STATES = frozenset({State.DISPATCHED, State.ACCEPTED, State.RETURNED})


class Role(StrEnum):
    DEPUTY = "deputy"
    HANDLER = "handler"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class Relation(StrEnum):
    """How the actor must stand to the ticket for a rule to apply to them."""

    REPORTER = "reporter"  # reported it (followers of a ticket are only VIEWERs)
    HANDLING_UNIT = "handling_unit"  # member of the handling unit
    CO_HANDLER = "co_handler"  # member of the handling unit or of a co-handling unit
    SUPERVISOR = "supervisor"  # supervisor whose unit is the handling unit or above it
    VIEWER = "viewer"  # anyone who may see the ticket
    SYSTEM = "system"  # the worker (actor is None)


class Action(StrEnum):
    REPORT = "report"
    FORWARD = "forward"  # deputy forwards a citizen's report (citizen channel)
    DECLINE = "decline"
    ACCEPT = "accept"
    RETURN = "return"
    REDISPATCH = "redispatch"
    PROGRESS = "progress"
    ASSIGN = "assign"
    TRANSFER = "transfer"
    COHANDLE = "cohandle"
    RESOLVE = "resolve"
    RATE = "rate"
    CLOSE = "close"
    AUTO_CLOSE = "auto_close"
    REOPEN = "reopen"
    INVALID = "invalid"
    DUPLICATE = "duplicate"
    WITHDRAW = "withdraw"
    URGE = "urge"
    ADD_INFO = "add_info"
    COMMENT = "comment"
    REVIEW = "review"
    # Written by the worker and later issues; listed so the event kind is one enum.
    ESCALATE = "escalate"
    SUPERVISE = "supervise"
    EXTENSION_REQUEST = "extension_request"
    EXTENSION_DECISION = "extension_decision"
    REMIND = "remind"


class Outcome(StrEnum):
    SOLVED = "solved"
    EXPLAINED = "explained"
    REFERRED = "referred"


class Score(StrEnum):
    SATISFIED = "satisfied"  # 满意
    BASICALLY_SATISFIED = "basically_satisfied"  # 基本满意
    UNSATISFIED = "unsatisfied"  # 不满意


class ClosedReason(StrEnum):
    RATED = "rated"
    UNRATED = "unrated"  # no rating within N days (worker) or closed by a supervisor
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True)
class Rule:
    """One row of the transition table.

    `targets` empty means the action adds an event without changing the state; with
    more than one target the service picks one (rating: closed or a new round).
    """

    action: Action
    sources: frozenset[State]
    targets: frozenset[State]
    relations: frozenset[Relation]
    note: bool = False  # a note (or reason) is required
    photo: bool = False  # at least one photo is required


def _rule(
    action: Action,
    sources: set[State] | frozenset[State],
    targets: set[State],
    relations: set[Relation],
    *,
    note: bool = False,
    photo: bool = False,
) -> Rule:
    return Rule(action, frozenset(sources), frozenset(targets), frozenset(relations), note, photo)


S = State
R = Relation
_ANY = frozenset(State)
_CLOSED_LIKE = frozenset({S.CLOSED, S.INVALID, S.DUPLICATE, S.DECLINED})

TRANSITIONS: dict[Action, Rule] = {
    r.action: r
    for r in (
        _rule(Action.FORWARD, {S.PENDING_REVIEW}, {S.DISPATCHED}, {R.REPORTER}),
        _rule(Action.DECLINE, {S.PENDING_REVIEW}, {S.DECLINED}, {R.REPORTER}, note=True),
        _rule(Action.ACCEPT, {S.DISPATCHED}, {S.ACCEPTED}, {R.HANDLING_UNIT}, note=True),
        _rule(Action.RETURN, {S.DISPATCHED, S.ACCEPTED}, {S.RETURNED}, {R.HANDLING_UNIT}, note=True),
        _rule(Action.REDISPATCH, {S.RETURNED}, {S.DISPATCHED}, {R.SUPERVISOR}, note=True),
        _rule(Action.PROGRESS, {S.ACCEPTED}, set(), {R.CO_HANDLER}, note=True, photo=True),
        _rule(Action.ASSIGN, {S.DISPATCHED, S.ACCEPTED}, set(), {R.HANDLING_UNIT, R.SUPERVISOR}),
        # A transfer hands the work order to another unit, which must accept it afresh.
        _rule(
            Action.TRANSFER,
            {S.DISPATCHED, S.ACCEPTED, S.RETURNED},
            {S.DISPATCHED},
            {R.HANDLING_UNIT, R.SUPERVISOR},
            note=True,
        ),
        _rule(Action.COHANDLE, {S.DISPATCHED, S.ACCEPTED}, set(), {R.HANDLING_UNIT, R.SUPERVISOR}),
        _rule(Action.RESOLVE, {S.ACCEPTED}, {S.RESOLVED}, {R.HANDLING_UNIT}, note=True, photo=True),
        _rule(Action.RATE, {S.RESOLVED}, {S.CLOSED, S.DISPATCHED}, {R.REPORTER}),
        _rule(Action.CLOSE, {S.RESOLVED}, {S.CLOSED}, {R.SUPERVISOR}, note=True),
        _rule(Action.AUTO_CLOSE, {S.RESOLVED}, {S.CLOSED}, {R.SYSTEM}),
        _rule(Action.REOPEN, {S.CLOSED}, {S.DISPATCHED}, {R.SUPERVISOR}, note=True),
        _rule(Action.INVALID, OPEN_STATES, {S.INVALID}, {R.SUPERVISOR}, note=True),
        _rule(Action.DUPLICATE, OPEN_STATES, {S.DUPLICATE}, {R.SUPERVISOR}),
        _rule(Action.WITHDRAW, {S.PENDING_REVIEW, S.DISPATCHED}, {S.CLOSED}, {R.REPORTER}),
        _rule(Action.URGE, WORKING_STATES, set(), {R.REPORTER, R.SUPERVISOR}),
        _rule(Action.ADD_INFO, OPEN_STATES, set(), {R.REPORTER}),
        _rule(Action.COMMENT, _ANY, set(), {R.VIEWER}, note=True),
        _rule(Action.REVIEW, _CLOSED_LIKE - {S.DECLINED}, set(), {R.SUPERVISOR}, note=True),
        # 延期: the handling unit asks for more days (the reason is the note); a supervisor above
        # it answers, also while the ticket waits to be re-dispatched (services/extensions.py).
        _rule(Action.EXTENSION_REQUEST, {S.DISPATCHED, S.ACCEPTED}, set(), {R.HANDLING_UNIT}, note=True),
        _rule(Action.EXTENSION_DECISION, WORKING_STATES, set(), {R.SUPERVISOR}),
    )
}


def rule_for(action: Action) -> Rule:
    """Return the transition rule for `action`; KeyError if it is not a user action."""
    return TRANSITIONS[action]


def allowed_actions(state: State, relations: set[Relation]) -> list[Action]:
    """The actions an actor standing in `relations` to a ticket in `state` may take."""
    return [
        r.action
        for r in TRANSITIONS.values()
        if state in r.sources and r.relations & relations and R.SYSTEM not in r.relations
    ]
