"""The worker's own record: when each job last started and finished, for the health line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ticketing.extensions import db
from ticketing.models import WorkerSweep


def _upsert(job: str, values: dict[str, Any]) -> None:
    # INSERT ... ON CONFLICT DO UPDATE: two workers' first runs on a fresh database must not
    # both try to create the row.
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(WorkerSweep).values({"job": job, "counts": {}, "worker": "", **values})
    db.session.execute(stmt.on_conflict_do_update(index_elements=["job"], set_=values))


def started(job: str, now: datetime, worker: str) -> None:
    """Note that `job` starts. A write first: on SQLite it takes the write lock for the job's transaction."""
    _upsert(job, {"last_started_at": now, "worker": worker})


def finished(job: str, now: datetime, as_of: datetime, counts: dict[str, Any]) -> None:
    """Note that `job` completed a run as of `as_of` with these counts."""
    _upsert(job, {"last_finished_at": now, "last_as_of": as_of, "counts": counts})
    db.session.expire_all()


def latest() -> list[WorkerSweep]:
    """Every job's last run, by name."""
    return list(db.session.scalars(select(WorkerSweep).order_by(WorkerSweep.job)))
