"""No object left behind: what a transaction stored goes again unless it commits (local store)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.conftest import jpeg
from ticketing.extensions import db
from ticketing.models import Photo, Ticket, TicketEvent
from ticketing.storage import cleanup
from ticketing.storage.local import LocalStore


def files(store: LocalStore, row: Photo) -> list[Path]:
    return [store.root / k for k in (row.original_key, row.display_key, row.thumb_key)]


def counts() -> tuple[int, ...]:
    return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Ticket, TicketEvent, Photo))


def refuse_commit(_session: Any) -> None:
    raise IntegrityError("COMMIT", {}, Exception("forced by the test"))


def test_a_failed_commit_deletes_the_new_files_but_not_those_of_a_committed_photo(api, ctx):
    store = ctx.extensions["photo_store"]
    shared, new = jpeg((10, 20, 30)), jpeg((40, 50, 60))
    first = api.report("deputy_wang", photos=[shared])
    assert first.status_code == 201, first.json
    committed = db.session.get(Photo, first.json["photos"][0]["id"])
    assert all(f.is_file() for f in files(store, committed))
    before = counts()

    session = db.session()
    event.listen(session, "before_commit", refuse_commit)
    try:
        resp = api.report("deputy_wang", photos=[shared, new])
    finally:
        event.remove(session, "before_commit", refuse_commit)

    assert resp.status_code == 409, resp.json
    assert counts() == before
    assert all(f.is_file() for f in files(store, committed))
    sha = hashlib.sha256(new).hexdigest()
    assert not list(store.root.rglob(f"{sha}*")), "the uncommitted photo's original and copies are gone"
    assert not cleanup.pending(db.session)


def test_a_committed_request_keeps_its_files_and_forgets_them(api, ctx):
    resp = api.report("deputy_wang", photos=[jpeg((70, 80, 90))])
    assert resp.status_code == 201
    row = db.session.get(Photo, resp.json["photos"][0]["id"])
    assert not cleanup.pending(db.session)
    db.session.rollback()  # a later rollback must not reach back into a committed transaction
    assert all(f.is_file() for f in files(ctx.extensions["photo_store"], row))


def stored(store: LocalStore, key: str) -> str:
    store.put(key, b"bytes", "image/jpeg")
    return key


def test_a_rolled_back_savepoint_leaves_the_decision_to_the_outer_transaction(ctx, tmp_path):
    store = LocalStore(tmp_path)
    db.session.execute(select(1))
    cleanup.track(db.session, store, stored(store, "private/aa/aa/outer"), "a" * 64)
    nested = db.session.begin_nested()
    cleanup.track(db.session, store, stored(store, "private/bb/bb/inner"), "b" * 64)
    nested.rollback()
    assert store.exists("private/aa/aa/outer") and store.exists("private/bb/bb/inner")
    db.session.rollback()
    assert not store.exists("private/aa/aa/outer") and not store.exists("private/bb/bb/inner")


def test_closing_a_session_without_commit_deletes_what_it_stored(ctx, tmp_path):
    store = LocalStore(tmp_path)
    db.session.execute(select(1))
    cleanup.track(db.session, store, stored(store, "public/cc/cc/c-thumb.jpg"), "c" * 64)
    db.session.close()
    assert not store.exists("public/cc/cc/c-thumb.jpg")


def test_an_object_whose_hash_a_committed_photo_holds_is_kept(api, ctx, tmp_path):
    # Two requests storing the same new photo at once both see it missing and both write it;
    # when the loser rolls back, the winner's committed row still needs the object.
    resp = api.report("deputy_wang", photos=[jpeg((11, 22, 33))])
    assert resp.status_code == 201
    row = db.session.get(Photo, resp.json["photos"][0]["id"])
    store = LocalStore(tmp_path)
    cleanup.track(db.session, store, stored(store, row.display_key), row.sha256)
    cleanup.track(db.session, store, stored(store, "private/dd/dd/nobody"), "d" * 64)
    db.session.rollback()
    assert store.exists(row.display_key)
    assert not store.exists("private/dd/dd/nobody")


def test_an_engine_bound_session_checks_committed_rows_on_its_own_connection(app, tmp_path):
    # The application's sessions are bound to the engine, not to the tests' outer connection.
    store = LocalStore(tmp_path)
    with app.app_context():
        with Session(db.engine) as session:
            session.execute(select(1))
            cleanup.track(session, store, stored(store, "private/ee/ee/e"), "e" * 64)
            session.rollback()
    assert not store.exists("private/ee/ee/e")
