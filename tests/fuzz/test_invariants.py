"""The invariant checker the fuzzer relies on sees each kind of breach (and none in a sound database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from tests.conftest import rolled_back
from tests.fuzz.invariants import violations
from ticketing.extensions import db
from ticketing.models import Photo, Ticket


@pytest.fixture
def world(fuzz_app: Flask) -> Iterator[Path]:
    """The fuzzing app's database in a rolled-back transaction; yields its photo folder."""
    with rolled_back(fuzz_app) as app:
        yield Path(app.config["PHOTO_DIR"])


def _copy(ticket: Ticket, number: str) -> Ticket:
    """A ticket row written behind the services' back: no event, no counter."""
    columns = {c.key: getattr(ticket, c.key) for c in Ticket.__mapper__.column_attrs if c.key not in ("id", "number")}
    copy = Ticket(**columns, number=number)
    db.session.add(copy)
    db.session.flush()
    return copy


def test_a_sound_database_has_no_violations(world: Path) -> None:
    assert violations(db.session, world) == []


def test_a_ticket_written_without_the_services_is_seen(world: Path) -> None:
    original = db.session.scalars(select(Ticket).order_by(Ticket.id)).first()
    _copy(original, "2026-999999")
    found = violations(db.session, world)
    assert "ticket 2026-999999 has no report event" in found
    assert any(v.startswith("ticket 2026-999999 is beyond its year's counter") for v in found)
    assert any(v.startswith("ticket 2026-999999 is dispatched but its trail last took it to None") for v in found)


def test_a_malformed_number_is_seen(world: Path) -> None:
    _copy(db.session.scalars(select(Ticket)).first(), "T-1")
    assert "ticket number 'T-1' is not YYYY-NNNNNN" in violations(db.session, world)


def test_a_state_changed_in_place_is_seen(world: Path) -> None:
    from ticketing.workflow import State

    ticket = db.session.scalar(select(Ticket).where(Ticket.state == State.DISPATCHED).limit(1))
    ticket.state = State.ACCEPTED
    db.session.flush()
    assert f"ticket {ticket.number} is accepted but its trail last took it to dispatched (report)" in violations(
        db.session, world)


def test_missing_and_stray_photo_files_are_seen(world: Path) -> None:
    photo = db.session.scalars(select(Photo).order_by(Photo.id)).first()
    thumb = world / photo.thumb_key
    kept = thumb.read_bytes()
    stray = world / "public" / "zz" / "stray.jpg"
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left behind")
    thumb.unlink()
    try:
        found = violations(db.session, world)
    finally:
        thumb.write_bytes(kept)
        stray.unlink()
    assert f"photo {photo.id} lacks its file {photo.thumb_key}" in found
    assert "stored file public/zz/stray.jpg belongs to no row" in found


def test_a_photo_moved_to_another_ticket_is_seen(world: Path) -> None:
    photo = db.session.scalars(select(Photo).where(Photo.event_id.is_not(None)).order_by(Photo.id)).first()
    other = db.session.scalar(select(Ticket.id).where(Ticket.id != photo.ticket_id).limit(1))
    photo.ticket_id = other
    db.session.flush()
    assert any(v.startswith(f"photo {photo.id} belongs to ticket {other}") for v in violations(db.session, world))
