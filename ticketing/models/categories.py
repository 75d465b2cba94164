"""Report categories: the seven domains and their sub-categories, with routing and deadlines."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models import Base
from ticketing.models.enums import enum_column


class HandlerRule(StrEnum):
    STREET = "street"  # the territorial unit whose polygon covers the point
    DEPARTMENT = "department"  # a department of the containing district, by dept_kind


class Category(Base):
    """A category; sub-categories carry their own (seeded from the parent) rule and deadlines."""

    __tablename__ = "categories"
    __table_args__ = (
        CheckConstraint("response_hours > 0 AND resolution_days > 0", name="positive_deadlines"),
        CheckConstraint("handler_rule <> 'department' OR dept_kind IS NOT NULL", name="department_named"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100), default="")
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("categories.id"), index=True)
    handler_rule: Mapped[HandlerRule] = mapped_column(enum_column(HandlerRule, "handler_rule"))
    dept_kind: Mapped[str | None] = mapped_column(String(64))
    response_hours: Mapped[int] = mapped_column(Integer)
    resolution_days: Mapped[int] = mapped_column(Integer)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    sort: Mapped[int] = mapped_column(Integer, default=0)

    parent: Mapped[Category | None] = relationship(remote_side="Category.id")

    @property
    def domain(self) -> Category:
        """The top-level domain this category belongs to."""
        return self.parent or self
