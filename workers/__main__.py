"""`python -m workers [--once] [--at ISO-TIME]`: run the scheduler, or every job once."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from datetime import datetime, timezone
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler

from ticketing.app import create_app
from ticketing.extensions import db
from workers.jobs import JOBS, run
from workers.leader import Leadership

log = logging.getLogger("workers")


def _at(value: str | None) -> datetime:
    if not value:
        return datetime.now(timezone.utc)
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def lock_file(config: dict) -> str:  # type: ignore[type-arg]
    """The SQLite worker lock: WORKER_LOCK_FILE, or a file beside the database."""
    if config.get("WORKER_LOCK_FILE"):
        return str(config["WORKER_LOCK_FILE"])
    from sqlalchemy.engine import make_url

    database = make_url(config["DATABASE_URL"]).database or "suishoupai"
    return f"{database}.worker-lock"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--once", action="store_true", help="run every job once and exit")
    parser.add_argument("--at", default=None, help="with --once: run as of this ISO time")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    # APScheduler logs every run at INFO; the jobs say what matters themselves.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    app = create_app()
    from ticketing.channels import senders_from_config

    # Bad notification settings fail here, at start, not at the first delivery.
    app.extensions["notify_senders"] = senders_from_config(app.config)

    with app.app_context():
        leadership = Leadership(db.engine, lock_file(app.config))
    use_lock = bool(app.config.get("WORKER_LEADER_LOCK", True))

    if args.once:
        if use_lock and not leadership.held():
            log.error("another worker holds the lock; not running")
            return 3
        now = _at(args.at)
        failed = [job.name for job in JOBS if run(app, job, now) is None]
        leadership.release()
        return 1 if failed else 0

    if not use_lock:
        log.warning("leader lock disabled: relying on row claims and unique step keys alone")
    elif app.config["DATABASE_URL"].startswith("sqlite") and not leadership.held():
        # The embedded database takes one worker at a time: refuse rather than wait.
        log.error("another worker is running on this database (lock %s)", lock_file(app.config))
        return 3

    def _run_if_leader(job=None) -> None:  # type: ignore[no-untyped-def]
        if use_lock and not leadership.held():
            return  # a follower: the leader does the work, and we take over if it dies
        run(app, job, datetime.now(timezone.utc))

    scheduler = BlockingScheduler(
        timezone="UTC",
        # Two threads: a long sweep does not hold up notification delivery.
        executors={"default": ThreadPoolExecutor(2)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60},
    )
    for job in JOBS:
        scheduler.add_job(
            _run_if_leader,
            "interval",
            kwargs={"job": job},
            seconds=job.every_seconds(app),
            id=job.name,
            name=job.name,
            next_run_time=datetime.now(timezone.utc),
        )

    def _stop(signum: int, _frame: FrameType | None) -> None:
        # Leave the scheduler's wait loop from the main thread; shutting down from inside
        # the handler could wait on a lock the interrupted loop holds.
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    log.info("worker started: %s", ", ".join(j.name for j in JOBS))
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("stopping")
        if scheduler.running:
            scheduler.shutdown(wait=False)
    finally:
        leadership.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
