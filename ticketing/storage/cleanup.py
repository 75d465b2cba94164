"""No object left behind: what a transaction stored is deleted again unless it commits.

`track` records, in ``session.info``, each object a transaction newly created in the
photo store. When the session's outermost transaction commits the records are
forgotten; when it ends any other way (rollback, or a close without commit) the
objects are deleted. Only newly created keys are tracked, because content-hash keys
are shared: a photo that was already stored may belong to committed rows.

One more guard, for two requests storing the same new photo at the same moment (a
double tap with one Idempotency-Key: one commits, the other fails on the key): before
deleting, the hashes still referenced by committed photo rows are looked up and kept.
(Left open: the loser rolling back before the winner commits, for a reason of its own,
between the lookup and the delete. Both would have had to store the same new file.)
A failed cleanup (store or database unreachable) only logs: an orphan object is
harmless, a missing one is not.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, SessionTransaction

from ticketing.storage import PhotoStore

log = logging.getLogger(__name__)

INFO_KEY = "new_photo_objects"


@dataclass(frozen=True)
class NewObject:
    """An object this transaction created: where, under which key, for which photo hash."""

    store: PhotoStore
    key: str
    sha256: str


def track(session: Any, store: PhotoStore, key: str, sha256: str) -> None:
    """Remember that the current transaction of `session` created `key` in `store`."""
    install()
    session.info.setdefault(INFO_KEY, []).append(NewObject(store, key, sha256))


def pending(session: Any) -> list[NewObject]:
    """The objects created by the session's current transaction so far."""
    return list(session.info.get(INFO_KEY, ()))


def install() -> None:
    """Attach the listeners to every SQLAlchemy Session, once per process."""
    if not event.contains(Session, "after_commit", _forget):
        event.listen(Session, "after_commit", _forget)
        event.listen(Session, "after_transaction_end", _delete_uncommitted)


def _forget(session: Session) -> None:
    session.info.pop(INFO_KEY, None)


def _delete_uncommitted(session: Session, transaction: SessionTransaction) -> None:
    # Savepoints end inside the outer transaction, which still decides; after_commit
    # has already emptied the list when the outermost transaction committed.
    if transaction.parent is not None or not session.info.get(INFO_KEY):
        return
    objects: list[NewObject] = session.info.pop(INFO_KEY)
    try:
        in_use = _committed_hashes(session, {o.sha256 for o in objects})
    except Exception:
        log.warning("rolled back with %d new photo objects; database unreachable, kept them", len(objects),
                    exc_info=True)
        return
    for obj in objects:
        if obj.sha256 in in_use:
            continue
        try:
            obj.store.delete(obj.key)
        except Exception:
            log.warning("could not delete %s from %r after a rollback", obj.key, obj.store, exc_info=True)


def _committed_hashes(session: Session, hashes: set[str]) -> set[str]:
    from ticketing.models import Photo

    query = select(Photo.sha256).where(Photo.sha256.in_(sorted(hashes))).distinct()
    bind = session.get_bind(mapper=Photo)
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return set(conn.scalars(query))
    # A session bound to a connection (the tests' outer transaction) reads through it.
    return set(bind.scalars(query))
