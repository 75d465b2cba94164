"""The table of periodic jobs. Each job is thin: it calls services and commits.

A job returns its counts; `run` records the run (for the health line) and logs it.
Jobs that work in batches commit once per batch, so a crash loses at most the batch
in flight, and the next run redoes exactly that (the steps' unique keys see to it).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from ticketing.extensions import db
from ticketing.models import Ticket
from ticketing.services import worker_runs

log = logging.getLogger("workers")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"
Counts = dict[str, Any]


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Flask, datetime], Counts]
    every_seconds: Callable[[Flask], int]


def _batched(app: Flask, job: str, now: datetime, step: Callable[[], Counts], size: int) -> Counts:
    """Run `step` and commit, until it handles fewer than `size` items."""
    total: Counts = {}
    pause = float(app.config.get("SWEEP_PAUSE_SECONDS", 0))
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    worker_runs.started(job, datetime.now(timezone.utc), WORKER_ID)
    db.session.commit()  # not held: on PostgreSQL two workers' batches may overlap
    while True:
        if sqlite:
            # Take SQLite's write lock before reading the batch, so that a web request committing
            # meanwhile makes us wait (busy timeout) instead of failing our write at the end.
            worker_runs.started(job, datetime.now(timezone.utc), WORKER_ID)
        counts = step()
        db.session.commit()
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
        if counts.get("examined", 0) < size:
            return total
        if pause:  # lets the tests kill a worker between two committed batches
            time.sleep(pause)


def sweep(app: Flask, now: datetime) -> Counts:
    """Reminders, escalations, returned tickets, auto-close (ticketing.services.sweep)."""
    from ticketing.services.sweep import SweepSettings, sweep_batch

    settings = SweepSettings.from_config(app.config)
    return _batched(app, "sweep", now, lambda: sweep_batch(now, settings), settings.batch)


def extensions(app: Flask, now: datetime) -> Counts:
    """Extension requests the supervisor did not answer in time go one level up."""
    from ticketing.services import extensions as ext

    worker_runs.started("extensions", datetime.now(timezone.utc), WORKER_ID)
    escalated = ext.escalate_overdue(now, app.extensions["ticket_settings"])
    db.session.commit()
    return {"escalated": escalated}


def repeats(app: Flask, now: datetime) -> Counts:
    """Repeated complaints become supervision-list candidates for the district."""
    from ticketing.services import repeats as rep

    worker_runs.started("repeats", datetime.now(timezone.utc), WORKER_ID)
    counts = rep.detect(
        now,
        radius_m=float(app.config["REPEAT_RADIUS_M"]),
        window_days=int(app.config["REPEAT_WINDOW_DAYS"]),
        min_count=int(app.config["REPEAT_MIN_COUNT"]),
    )
    db.session.commit()
    return counts


def outbox(app: Flask, now: datetime) -> Counts:
    """Deliver due notifications (email, SMS, WeChat) with retries and backoff."""
    from ticketing.channels import senders_from_config
    from ticketing.services.outbox import deliver_due

    if "notify_senders" not in app.extensions:
        app.extensions["notify_senders"] = senders_from_config(app.config)
    senders = app.extensions["notify_senders"]
    size = int(app.config["OUTBOX_BATCH"])

    def step() -> Counts:
        counts = deliver_due(
            now, senders, batch=size, max_attempts=int(app.config["OUTBOX_MAX_ATTEMPTS"]),
            backoff_seconds=float(app.config["OUTBOX_BACKOFF_SECONDS"]),
        )
        counts["examined"] = sum(counts.values())
        return counts

    return _batched(app, "outbox", now, step, size)


def webhooks(app: Flask, now: datetime) -> Counts:
    """Push due state changes to partners, signed, with retries and backoff (ticketing.bridge.webhooks)."""
    from ticketing.bridge.webhooks import SignedSender, deliver_due

    sender = SignedSender(timeout=float(app.config["WEBHOOK_TIMEOUT_SECONDS"]))
    size = int(app.config["WEBHOOK_BATCH"])

    def step() -> Counts:
        counts = deliver_due(
            now, sender, batch=size, max_attempts=int(app.config["WEBHOOK_MAX_ATTEMPTS"]),
            backoff_seconds=float(app.config["WEBHOOK_BACKOFF_SECONDS"]),
        )
        counts["examined"] = sum(counts.values())
        return counts

    return _batched(app, "webhooks", now, step, size)


def citizen_links(app: Flask, now: datetime) -> Counts:
    """Blank the tracking links of citizens' SMS the outbox has finished with (ticketing.services.citizen)."""
    from ticketing.services.citizen import forget_sent_links

    counts = {"forgotten": forget_sent_links()}
    db.session.commit()
    return counts


def calendar_watch(app: Flask, now: datetime) -> Counts:
    """Warn the city's supervisors and the admins before a year without calendar data begins."""
    from ticketing.services.calendar_watch import warn_missing_years

    worker_runs.started("calendar_watch", datetime.now(timezone.utc), WORKER_ID)
    counts = warn_missing_years(now, weeks=int(app.config["CALENDAR_WARN_WEEKS"]))
    db.session.commit()
    return counts


def kpi_facts(app: Flask, now: datetime) -> Counts:
    """Rebuild the KPI facts of tickets with new events, a commit per batch (ticketing.services.kpi_facts)."""
    from ticketing.services import kpi_facts as facts

    settings = app.extensions["ticket_settings"]
    size = int(app.config["KPI_FACTS_BATCH"])
    return _batched(app, "kpi_facts", now, lambda: facts.refresh(settings, now, limit=size).as_dict(), size)


def reports(app: Flask, now: datetime) -> Counts:
    """Last month's assessment reports (and in January last year's) of every district and department,
    from 02:00 on the 1st; each once, committed one by one (ticketing.services.reports)."""
    from ticketing.services import reports as rep

    settings = app.extensions["ticket_settings"]
    due_soon = rep.DueSoon(float(app.config["REMIND_RESPONSE_BEFORE_HOURS"]),
                           float(app.config["REMIND_RESOLUTION_BEFORE_HOURS"]))
    worker_runs.started("reports", datetime.now(timezone.utc), WORKER_ID)
    db.session.commit()
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    counts: Counts = {"generated": 0, "skipped": 0}
    for unit_id, period in rep.missing_scheduled(now, settings.timezone):
        if sqlite:
            # A report reads for a second or two before it writes: hold SQLite's write lock from the
            # start, or a web request committing meanwhile would fail our write at the end (see _batched).
            worker_runs.started("reports", datetime.now(timezone.utc), WORKER_ID)
        made = rep.generate_scheduled(unit_id, period, now, settings=settings, store=app.extensions["photo_store"],
                                      due_soon=due_soon)
        db.session.commit()
        counts["generated" if made else "skipped"] += 1
    return counts


def retention(app: Flask, now: datetime) -> Counts:
    """Anonymise tickets finished more than RETENTION_DAYS ago, a commit per batch (ticketing.services.privacy)."""
    from ticketing.services import audit, privacy

    policy = privacy.RetentionPolicy.from_config(app.config)
    if policy is None:
        return {"anonymised": 0}
    store = app.extensions["photo_store"]
    with audit.acting(None, now, via="worker"):
        return _batched(app, "retention", now, lambda: privacy.anonymise_batch(now, policy, store), policy.batch)


def heartbeat(app: Flask, now: datetime) -> Counts:
    """Show that the worker is alive and can read the database."""
    open_count = db.session.scalar(select(func.count(Ticket.id)).where(Ticket.closed_at.is_(None))) or 0
    db.session.rollback()
    log.info("heartbeat at %s: %s open tickets", now.isoformat(timespec="seconds"), open_count)
    return {"open": open_count}


def _every(key: str) -> Callable[[Flask], int]:
    return lambda app: int(app.config[key])


JOBS: tuple[Job, ...] = (
    Job("sweep", sweep, _every("SWEEP_SECONDS")),
    Job("extensions", extensions, _every("SWEEP_SECONDS")),
    Job("outbox", outbox, _every("OUTBOX_SECONDS")),
    Job("citizen_links", citizen_links, _every("OUTBOX_SECONDS")),
    Job("webhooks", webhooks, _every("OUTBOX_SECONDS")),
    Job("repeats", repeats, lambda app: 600),
    Job("calendar_watch", calendar_watch, lambda app: 6 * 3600),
    # Keeps the KPI queries' own catch-up (metrics.compute refreshes too) down to a minute of events.
    Job("kpi_facts", kpi_facts, _every("KPI_FACTS_SECONDS")),
    Job("reports", reports, lambda app: 3600),
    Job("retention", retention, lambda app: int(app.config.get("RETENTION_SECONDS", 3600))),
    Job("heartbeat", heartbeat, _every("WORKER_HEARTBEAT_SECONDS")),
)


def run(app: Flask, job: Job, now: datetime) -> Counts | None:
    """Run one job in an app context, record and log it; a failing job is logged, not fatal."""
    with app.app_context():
        started = time.monotonic()
        try:
            counts = job.run(app, now)
            if job.name != "heartbeat":
                worker_runs.finished(job.name, datetime.now(timezone.utc), now, counts)
                db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", job.name)
            return None
        finally:
            db.session.remove()
        if job.name != "heartbeat":
            # Runs that found nothing to do are the common case every few seconds: keep them quiet.
            level = logging.INFO if any(counts.values()) else logging.DEBUG
            log.log(level, "%s as of %s in %.2fs: %s", job.name, now.isoformat(timespec="seconds"),
                    time.monotonic() - started, counts)
        return counts
