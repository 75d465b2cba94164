"""The working-day calendar: an editable table seeded from `chinesecalendar`."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from geo.models import Base


class CalendarDay(Base):
    """An exception to Monday–Friday: a holiday on a weekday or a swapped working weekend (调休).

    Only days whose status differs from the plain weekday rule need a row, but seeding
    writes every holiday and every working weekend the source knows.
    """

    __tablename__ = "calendar_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    is_workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(32), default="chinesecalendar")


class CalendarYear(Base):
    """A year whose official calendar is known; other years fall back to Monday–Friday."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    source: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime]
