"""`python -m workers [--once] [--at ISO-TIME]`: run the scheduler, or every job once."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from datetime import datetime, timezone
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from ticketing.app import create_app
from workers.jobs import JOBS

log = logging.getLogger("workers")


def _at(value: str | None) -> datetime:
    if not value:
        return datetime.now(timezone.utc)
    moment = datetime.fromisoformat(value)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers", description=__doc__)
    parser.add_argument("--once", action="store_true", help="run every job once and exit")
    parser.add_argument("--at", default=None, help="with --once: run as of this ISO time")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    # APScheduler logs every run at INFO; the jobs say what matters themselves.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    app = create_app()

    if args.once:
        now = _at(args.at)
        for job in JOBS:
            job.run(app, now)
        return 0

    scheduler = BlockingScheduler(
        timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
    )
    for job in JOBS:
        scheduler.add_job(
            lambda job=job: job.run(app, datetime.now(timezone.utc)),
            "interval",
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
