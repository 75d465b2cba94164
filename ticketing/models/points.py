"""Published quarterly snapshots of the deputies' points (季度公示): written once, never changed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from geo.models import Base


class PointsSnapshot(Base):
    """The ranking and participation of one quarter as published (`period` like ``2026Q1``)."""

    __tablename__ = "points_snapshots"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period: Mapped[str] = mapped_column(String(8), unique=True)
    created_at: Mapped[datetime]
    data: Mapped[dict[str, Any]]
