"""The organisation tree: city → district → street/town, with departments and dispatch units."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models import Base
from ticketing.models.enums import enum_column


class UnitKind(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"  # street office (街道) or town (镇)
    DEPARTMENT = "department"  # hangs under the level that owns it
    DISPATCH = "dispatch"  # a level's dispatch desk: takes tickets that routing could not place


class OrgUnit(Base):
    """A node of the org tree.

    `path` is the materialised chain of ids ("/1/4/9/") so that "this unit's subtree"
    is one indexed prefix query on both databases; services keep it in step with
    `parent_id` (see `ticketing.services.org`).
    """

    __tablename__ = "org_units"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[UnitKind] = mapped_column(enum_column(UnitKind, "unit_kind"))
    # For departments: what they do ("law_enforcement", "traffic_police"...), which
    # category routing rules name.
    dept_kind: Mapped[str | None] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("org_units.id"), index=True)
    path: Mapped[str] = mapped_column(String(512), index=True, default="/")

    parent: Mapped[OrgUnit | None] = relationship(remote_side="OrgUnit.id", back_populates="children")
    children: Mapped[list[OrgUnit]] = relationship(back_populates="parent")

    def ancestor_ids(self) -> list[int]:
        """Ids from the root down to and including this unit."""
        return [int(p) for p in self.path.strip("/").split("/") if p]

    def is_within(self, other: OrgUnit) -> bool:
        """True if this unit is `other` or lies in its subtree."""
        return self.path.startswith(other.path)

    def __repr__(self) -> str:
        return f"<OrgUnit {self.code} {self.kind}>"
