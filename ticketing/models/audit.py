"""The admin audit log: who changed users, tokens, categories, units, boundaries and the calendar.

Tickets have their own trail (`TicketEvent`); this table holds what happens around them. Like
the trail it is append-only: database triggers refuse UPDATE and DELETE (migration
b4c5d6e7f8a9). `action` is a plain string checked by `ticketing.services.audit` rather than a
CHECK constraint, so that a new kind of entry never needs a table rebuild on SQLite.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models import Base
from ticketing.models.users import User


class AuditEntry(Base):
    """One admin change: when, by whom and through which edge, what, and the values before and after.

    `before` and `after` hold only the audited fields of the target (never password hashes,
    token values or citizens' contact details): the log outlives every retention period.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    # NULL: nobody signed in (a command, the worker, the demo loader); `via` says which.
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    via: Mapped[str] = mapped_column(String(16))  # web, api, cli, worker, system
    action: Mapped[str] = mapped_column(String(64), index=True)  # e.g. user.create, token.revoke
    target_type: Mapped[str] = mapped_column(String(32))  # user, token, category, unit, ...
    target_id: Mapped[str] = mapped_column(String(64))  # the target's stable key: username, code, id
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    actor: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<AuditEntry {self.action} {self.target_type}:{self.target_id}>"
