"""The transition table on its own: plain Python, no app and no database (DESIGN.md §4)."""

from __future__ import annotations

import pytest

from ticketing.workflow import (
    OPEN_STATES,
    TRANSITIONS,
    WORKING_STATES,
    Action,
    Relation,
    State,
    allowed_actions,
    rule_for,
)

S = State
R = Relation
A = Action

# The brief's diagram, row by row: action -> (sources, targets).
DIAGRAM = {
    A.FORWARD: ({S.PENDING_REVIEW}, {S.DISPATCHED}),
    A.DECLINE: ({S.PENDING_REVIEW}, {S.DECLINED}),
    A.ACCEPT: ({S.DISPATCHED}, {S.ACCEPTED}),
    A.RETURN: ({S.DISPATCHED, S.ACCEPTED}, {S.RETURNED}),
    A.REDISPATCH: ({S.RETURNED}, {S.DISPATCHED}),
    A.RESOLVE: ({S.ACCEPTED}, {S.RESOLVED}),
    A.RATE: ({S.RESOLVED}, {S.CLOSED, S.DISPATCHED}),
    A.CLOSE: ({S.RESOLVED}, {S.CLOSED}),
    A.AUTO_CLOSE: ({S.RESOLVED}, {S.CLOSED}),
    A.REOPEN: ({S.CLOSED}, {S.DISPATCHED}),
    A.INVALID: (set(OPEN_STATES), {S.INVALID}),
    A.DUPLICATE: (set(OPEN_STATES), {S.DUPLICATE}),
    A.WITHDRAW: ({S.PENDING_REVIEW, S.DISPATCHED}, {S.CLOSED}),
    A.TRANSFER: ({S.DISPATCHED, S.ACCEPTED, S.RETURNED}, {S.DISPATCHED}),
}
# Verbs that add an event and leave the state alone.
EVENT_ONLY = {
    A.PROGRESS, A.ASSIGN, A.COHANDLE, A.URGE, A.ADD_INFO, A.COMMENT, A.REVIEW,
    A.EXTENSION_REQUEST, A.EXTENSION_DECISION,
}


@pytest.mark.parametrize("action", sorted(DIAGRAM), ids=str)
def test_state_changing_rules_match_the_brief(action: Action) -> None:
    rule = rule_for(action)
    sources, targets = DIAGRAM[action]
    assert rule.sources == frozenset(sources)
    assert rule.targets == frozenset(targets)


@pytest.mark.parametrize("action", sorted(EVENT_ONLY), ids=str)
def test_event_only_verbs_change_no_state(action: Action) -> None:
    assert rule_for(action).targets == frozenset()


def test_every_rule_is_either_a_transition_or_an_event_only_verb() -> None:
    assert set(TRANSITIONS) == set(DIAGRAM) | EVENT_ONLY
    assert all(rule.action == action for action, rule in TRANSITIONS.items())


def test_worker_only_kinds_are_not_user_actions() -> None:
    for action in (A.ESCALATE, A.SUPERVISE, A.REMIND, A.REPORT):
        with pytest.raises(KeyError):
            rule_for(action)


@pytest.mark.parametrize(
    ("action", "note", "photo"),
    [
        (A.ACCEPT, True, False),
        (A.RETURN, True, False),
        (A.REDISPATCH, True, False),
        (A.PROGRESS, True, True),
        (A.RESOLVE, True, True),
        (A.TRANSFER, True, False),
        (A.CLOSE, True, False),
        (A.REOPEN, True, False),
        (A.INVALID, True, False),
        (A.DECLINE, True, False),
        (A.COMMENT, True, False),
        (A.REVIEW, True, False),
        (A.RATE, False, False),
        (A.WITHDRAW, False, False),
        (A.URGE, False, False),
        (A.ASSIGN, False, False),
        (A.ADD_INFO, False, False),
        (A.EXTENSION_REQUEST, True, False),
        (A.EXTENSION_DECISION, False, False),
    ],
    ids=lambda v: str(v),
)
def test_evidence_each_step_requires(action: Action, note: bool, photo: bool) -> None:
    rule = rule_for(action)
    assert (rule.note, rule.photo) == (note, photo)


@pytest.mark.parametrize(
    ("action", "relations"),
    [
        (A.ACCEPT, {R.HANDLING_UNIT}),
        (A.RETURN, {R.HANDLING_UNIT}),
        (A.RESOLVE, {R.HANDLING_UNIT}),
        (A.PROGRESS, {R.CO_HANDLER}),
        (A.REDISPATCH, {R.SUPERVISOR}),
        (A.CLOSE, {R.SUPERVISOR}),
        (A.REOPEN, {R.SUPERVISOR}),
        (A.INVALID, {R.SUPERVISOR}),
        (A.DUPLICATE, {R.SUPERVISOR}),
        (A.REVIEW, {R.SUPERVISOR}),
        (A.RATE, {R.REPORTER}),
        (A.WITHDRAW, {R.REPORTER}),
        (A.ADD_INFO, {R.REPORTER}),
        (A.URGE, {R.REPORTER, R.SUPERVISOR}),
        (A.TRANSFER, {R.HANDLING_UNIT, R.SUPERVISOR}),
        (A.ASSIGN, {R.HANDLING_UNIT, R.SUPERVISOR}),
        (A.COHANDLE, {R.HANDLING_UNIT, R.SUPERVISOR}),
        (A.COMMENT, {R.VIEWER}),
        (A.AUTO_CLOSE, {R.SYSTEM}),
        (A.EXTENSION_REQUEST, {R.HANDLING_UNIT}),
        (A.EXTENSION_DECISION, {R.SUPERVISOR}),
    ],
    ids=lambda v: str(v) if isinstance(v, Action) else "",
)
def test_who_may_take_each_step(action: Action, relations: set[Relation]) -> None:
    assert rule_for(action).relations == frozenset(relations)


def test_handling_unit_on_a_fresh_work_order_may_accept_return_assign_transfer_and_cohandle() -> None:
    acts = set(allowed_actions(S.DISPATCHED, {R.HANDLING_UNIT, R.CO_HANDLER, R.VIEWER}))
    assert acts == {A.ACCEPT, A.RETURN, A.ASSIGN, A.TRANSFER, A.COHANDLE, A.EXTENSION_REQUEST, A.COMMENT}


def test_extensions_are_asked_while_working_and_answered_until_the_ticket_leaves_the_unit() -> None:
    handler, supervisor = {R.HANDLING_UNIT, R.VIEWER}, {R.SUPERVISOR, R.VIEWER}
    for state in State:
        assert (A.EXTENSION_REQUEST in allowed_actions(state, handler)) == (state in {S.DISPATCHED, S.ACCEPTED})
        assert (A.EXTENSION_DECISION in allowed_actions(state, supervisor)) == (state in WORKING_STATES)
        assert A.EXTENSION_DECISION not in allowed_actions(state, handler)


def test_handling_unit_resolves_only_after_accepting() -> None:
    handler = {R.HANDLING_UNIT, R.CO_HANDLER, R.VIEWER}
    assert A.RESOLVE not in allowed_actions(S.DISPATCHED, handler)
    assert A.RESOLVE in allowed_actions(S.ACCEPTED, handler)
    assert A.PROGRESS in allowed_actions(S.ACCEPTED, handler)


def test_co_handler_may_add_progress_but_not_resolve() -> None:
    acts = set(allowed_actions(S.ACCEPTED, {R.CO_HANDLER, R.VIEWER}))
    assert acts == {A.PROGRESS, A.COMMENT}


def test_reporter_rates_a_resolved_ticket_but_cannot_urge_it() -> None:
    acts = set(allowed_actions(S.RESOLVED, {R.REPORTER, R.VIEWER}))
    assert acts == {A.RATE, A.ADD_INFO, A.COMMENT}


def test_reporter_may_withdraw_only_before_acceptance() -> None:
    reporter = {R.REPORTER, R.VIEWER}
    assert A.WITHDRAW in allowed_actions(S.DISPATCHED, reporter)
    assert A.WITHDRAW not in allowed_actions(S.ACCEPTED, reporter)
    assert A.WITHDRAW not in allowed_actions(S.RESOLVED, reporter)


def test_urging_applies_while_the_handling_unit_owes_work() -> None:
    for state in State:
        assert (A.URGE in allowed_actions(state, {R.REPORTER})) == (state in WORKING_STATES)


def test_supervisor_on_a_closed_ticket_may_reopen_review_and_comment_only() -> None:
    acts = set(allowed_actions(S.CLOSED, {R.SUPERVISOR, R.VIEWER}))
    assert acts == {A.REOPEN, A.REVIEW, A.COMMENT}


@pytest.mark.parametrize("state", [S.INVALID, S.DUPLICATE, S.DECLINED], ids=str)
def test_finished_states_other_than_closed_cannot_be_reopened(state: State) -> None:
    everyone = set(Relation) - {R.SYSTEM}
    acts = set(allowed_actions(state, everyone))
    assert A.REOPEN not in acts
    assert acts <= {A.COMMENT, A.REVIEW}


def test_review_is_for_finished_tickets_only() -> None:
    for state in OPEN_STATES:
        assert A.REVIEW not in allowed_actions(state, {R.SUPERVISOR})


def test_only_supervisors_mark_open_tickets_invalid_or_duplicate() -> None:
    for state in OPEN_STATES:
        assert {A.INVALID, A.DUPLICATE} <= set(allowed_actions(state, {R.SUPERVISOR}))
        others = {R.REPORTER, R.HANDLING_UNIT, R.CO_HANDLER, R.VIEWER}
        assert not {A.INVALID, A.DUPLICATE} & set(allowed_actions(state, others))


def test_worker_only_rules_never_appear_as_allowed_actions() -> None:
    for state in State:
        assert A.AUTO_CLOSE not in allowed_actions(state, set(Relation))


def test_a_stranger_may_do_nothing() -> None:
    for state in State:
        assert allowed_actions(state, set()) == []


def test_every_state_but_pending_review_is_reachable_and_every_open_state_can_be_left() -> None:
    targets = {t for rule in TRANSITIONS.values() for t in rule.targets}
    assert targets == set(State) - {S.PENDING_REVIEW}
    for state in OPEN_STATES:
        assert any(state in rule.sources and rule.targets - {state} for rule in TRANSITIONS.values())
