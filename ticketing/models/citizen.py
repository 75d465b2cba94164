"""The citizen channel (代表二维码): each deputy's QR code, and what a citizen's report keeps
besides its ticket (the secret tracking link, the private contact, the deputy's rating permission)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from geo.models import Base
from ticketing.models.users import User


class CitizenCode(Base):
    """A deputy's QR code: the random code in ``/c/<code>``, not the user id.

    Revoking keeps the row (reports made through it still name it) and the deputy gets a new
    one; at most one live code per deputy (a partial unique index).
    """

    __tablename__ = "citizen_codes"
    __table_args__ = (
        Index(
            "ux_citizen_codes_live_deputy",
            "deputy_id",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deputy_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # 128 random bits, URL-safe: printed on the card, so unguessable rather than secret.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    deputy: Mapped[User] = relationship()


class CitizenReport(Base):
    """The citizen's side of a ticket they reported through a deputy's QR code.

    `token_hash` is the SHA-256 of the tracking link's token (the token itself is never
    stored); `form_key_hash` the SHA-256 of the report form's one-time key, which makes a
    second post of the same form find this report. `name` and `phone` are private: only the
    deputy sees them (never public pages, Open311, the cockpit or exports).
    """

    __tablename__ = "citizen_reports"

    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), primary_key=True, autoincrement=False)
    code_id: Mapped[int] = mapped_column(ForeignKey("citizen_codes.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    form_key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100), default="", server_default="")
    phone: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # The deputy lets the citizen rate the handling (off until the deputy decides).
    may_rate: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    created_at: Mapped[datetime]

    code: Mapped[CitizenCode] = relationship()
