"""The worker's own record: when each job last started and finished, for the health line."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from ticketing.extensions import db
from ticketing.models import WorkerSweep


def started(job: str, now: datetime, worker: str) -> None:
    """Note that `job` starts (a write first: on SQLite it takes the write lock for the job's transaction)."""
    row = db.session.get(WorkerSweep, job)
    if row is None:
        row = WorkerSweep(job=job, counts={})
        db.session.add(row)
    row.last_started_at = now
    row.worker = worker
    db.session.flush()


def finished(job: str, now: datetime, as_of: datetime, counts: dict[str, Any]) -> None:
    """Note that `job` completed a run as of `as_of` with these counts."""
    row = db.session.get(WorkerSweep, job)
    if row is None:
        row = WorkerSweep(job=job)
        db.session.add(row)
    row.last_finished_at = now
    row.last_as_of = as_of
    row.counts = counts
    db.session.flush()


def latest() -> list[WorkerSweep]:
    """Every job's last run, by name."""
    return list(db.session.scalars(select(WorkerSweep).order_by(WorkerSweep.job)))
