"""The declarative base shared by every model, and the boundary tables.

Boundaries come in generations (as in MapIt): an import creates an inactive generation
that an admin checks and then activates; at most one generation is active at a time.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored as UTC on every database.

    SQLite has no timezone type, so values are normalised to UTC on the way in and
    marked as UTC on the way out; naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass timezone-aware datetimes")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Declarative base with constraint naming (needed by SQLite batch migrations)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class BoundaryGeneration(Base):
    """One import of a set of boundaries; routing uses the single active generation."""

    __tablename__ = "boundary_generations"
    __table_args__ = (
        # At most one active generation, enforced by the database on both backends.
        Index(
            "uq_boundary_generations_one_active",
            "active",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(Text, default="")
    source_crs: Mapped[str] = mapped_column(String(16), default="wgs84")
    active: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime]
    activated_at: Mapped[datetime | None]
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    boundaries: Mapped[list[Boundary]] = relationship(back_populates="generation")


class Boundary(Base):
    """A polygon (EPSG:4326, WGS84) attached to an org unit within one generation."""

    __tablename__ = "boundaries"
    __table_args__ = (Index("ix_boundaries_generation_unit", "generation_id", "unit_id", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("boundary_generations.id"), index=True)
    # The org unit this polygon belongs to. geo refers to the table only by name so that
    # it never imports ticketing.
    unit_id: Mapped[int] = mapped_column(ForeignKey("org_units.id"), index=True)
    # Denormalised copy of the org unit's code: the router breaks ties on shared borders
    # by the lowest code, and must do so without joining (or importing) ticketing.
    unit_code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    geom: Mapped[Any] = mapped_column(Geometry("MULTIPOLYGON", srid=4326, spatial_index=True))

    generation: Mapped[BoundaryGeneration] = relationship(back_populates="boundaries")
