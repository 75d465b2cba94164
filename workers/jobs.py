"""The table of periodic jobs. Each job is thin: it calls a service and commits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy import func, select

from ticketing.extensions import db
from ticketing.models import Ticket

log = logging.getLogger("workers")


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Flask, datetime], None]
    every_seconds: Callable[[Flask], int]


def heartbeat(app: Flask, now: datetime) -> None:
    """Log that the worker is alive and what it sees in the database."""
    with app.app_context():
        open_count = db.session.scalar(select(func.count(Ticket.id)).where(Ticket.closed_at.is_(None)))
        db.session.rollback()
    log.info("heartbeat at %s: %s open tickets", now.isoformat(timespec="seconds"), open_count)


JOBS: tuple[Job, ...] = (
    Job("heartbeat", heartbeat, lambda app: int(app.config["WORKER_HEARTBEAT_SECONDS"])),
)
