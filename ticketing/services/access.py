"""Who stands how to a ticket, and which tickets a user may see.

Every permission is scoped to the org tree (DESIGN.md §2). The rules live here so that
services, lists and later the web pages and Open311 ask the same questions.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from ticketing.errors import Forbidden, NotFound
from ticketing.extensions import db
from ticketing.models import OrgUnit, Ticket, TicketCoHandler, TicketFollower, User
from ticketing.workflow import Relation, Role, Rule


def relations(actor: User | None, ticket: Ticket) -> set[Relation]:
    """The relations in which `actor` stands to `ticket` (empty: may not see it)."""
    if actor is None:
        return {Relation.SYSTEM}
    rel: set[Relation] = set()
    if ticket.reporter_id == actor.id or ticket.deputy_id == actor.id:
        rel.add(Relation.REPORTER)
    if actor.role == Role.HANDLER and actor.unit_id is not None:
        if actor.unit_id == ticket.handling_unit_id:
            rel |= {Relation.HANDLING_UNIT, Relation.CO_HANDLER}
        elif any(c.unit_id == actor.unit_id for c in ticket.co_handlers):
            rel.add(Relation.CO_HANDLER)
    if actor.role in (Role.SUPERVISOR, Role.ADMIN):
        if _oversees(actor, ticket.handling_unit):
            rel.add(Relation.SUPERVISOR)
        elif any(_oversees(actor, c.unit) for c in ticket.co_handlers):
            # Their units help with it (吹哨), so they see it; steering it is for the lead unit's supervisors.
            rel.add(Relation.VIEWER)
    if rel:
        rel.add(Relation.VIEWER)
    elif (actor.role == Role.ADMIN and actor.unit is None) or _follows(actor, ticket):
        # An admin with a unit sees that unit's subtree only, as in `visible_filter` (the
        # supervisor branch above). Followers (reporters of its duplicates) read and comment;
        # they do not own it.
        rel.add(Relation.VIEWER)
    return rel


def _follows(actor: User, ticket: Ticket) -> bool:
    if ticket.id is None:
        return False
    return bool(
        db.session.scalar(
            select(TicketFollower.user_id).where(
                TicketFollower.ticket_id == ticket.id, TicketFollower.user_id == actor.id
            )
        )
    )


def _oversees(actor: User, unit: OrgUnit | None) -> bool:
    if actor.role == Role.ADMIN and actor.unit is None:
        return True
    if actor.unit is None or unit is None:
        return False
    return unit.is_within(actor.unit)


def require_visible(actor: User | None, ticket: Ticket | None) -> set[Relation]:
    """Return the actor's relations, or raise NotFound if they may not see the ticket."""
    if ticket is None:
        raise NotFound("no such ticket", code="ticket_not_found")
    rel = relations(actor, ticket)
    if not rel:
        raise NotFound("no such ticket", code="ticket_not_found")
    return rel


def require_relation(rule: Rule, rel: set[Relation]) -> None:
    """Raise Forbidden unless one of the rule's relations holds."""
    if not (rule.relations & rel):
        raise Forbidden(
            f"you may not {rule.action.value} this ticket",
            code="action_forbidden",
            details={"action": rule.action.value, "needs": sorted(r.value for r in rule.relations)},
        )


def visible_filter(actor: User) -> ColumnElement[bool]:
    """A WHERE clause on Ticket selecting what `actor` may see (for lists)."""
    mine = or_(Ticket.reporter_id == actor.id, Ticket.deputy_id == actor.id)
    following = exists().where(TicketFollower.ticket_id == Ticket.id, TicketFollower.user_id == actor.id)
    if actor.role == Role.ADMIN and actor.unit is None:
        return true()
    if actor.role in (Role.SUPERVISOR, Role.ADMIN) and actor.unit is not None:
        prefix = actor.unit.path
        in_subtree = select(OrgUnit.id).where(OrgUnit.path.startswith(prefix, autoescape=True))
        co_in_subtree = exists().where(
            TicketCoHandler.ticket_id == Ticket.id, TicketCoHandler.unit_id.in_(in_subtree)
        )
        return or_(Ticket.handling_unit_id.in_(in_subtree), co_in_subtree, mine, following)
    if actor.role == Role.HANDLER and actor.unit_id is not None:
        co = exists().where(TicketCoHandler.ticket_id == Ticket.id, TicketCoHandler.unit_id == actor.unit_id)
        return or_(Ticket.handling_unit_id == actor.unit_id, co, mine, following)
    if actor.role == Role.DEPUTY:
        return or_(mine, following)
    return and_(false())
