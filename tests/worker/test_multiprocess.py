"""Real worker processes on one PostGIS database: each escalation step happens once per ticket,
whether two workers race or one is killed mid-sweep (DESIGN.md §5). PostGIS only.

The module builds one database (migrations, the Hangzhou world, 500 overdue tickets) and
each test works on a copy of its own (`CREATE DATABASE ... TEMPLATE`). The tickets are a
real report (Monday 2 March 2026 09:00, response due 14:00) cloned with set-based SQL.
Two in-process tests then pin the row claims down deterministically: two open sweeps at
once, and tickets that another transaction only references.
"""

from __future__ import annotations

import ast
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import count
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from bench.population import clone_tickets, report_template
from tests.conftest import NOW, ROOT, make_app
from workers.jobs import JOBS, run

TICKETS = 500
MONDAY_15 = "2026-03-02T15:00+08:00"  # an hour after every response deadline: up to the district
TUESDAY_15 = "2026-03-03T15:00+08:00"  # 8 working hours later, still overdue: up to the city
TEMPLATE_DB = "suishoupai_multiproc"
_copies = count(1)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _admin(url: str) -> str:
    return _libpq(make_url(url).set(database="postgres").render_as_string(hide_password=False))


@pytest.fixture(scope="module")
def template_url(postgis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database with the world and 500 tickets, all due; tests copy it and never touch it."""
    import flask_migrate

    from ticketing.demo import build_hangzhou
    from ticketing.extensions import db

    with psycopg.connect(_admin(postgis_url), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    url = make_url(postgis_url).set(database=TEMPLATE_DB).render_as_string(hide_password=False)
    with psycopg.connect(_libpq(url), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    app = make_app(url, tmp_path_factory.mktemp("multiproc-photos"))
    with app.app_context():
        flask_migrate.upgrade()
        build_hangzhou(NOW)
        db.session.commit()
        # The worker has run here before (at 08:00, nothing to do), so its jobs' worker_sweeps rows exist:
        # two workers' very first runs race to INSERT them, and the loser's job fails once.
        for job in JOBS:
            assert run(app, job, NOW - timedelta(hours=1)) is not None, job.name
        first = report_template(app, NOW)
        clone_tickets(first, TICKETS - 1)
        db.session.commit()
        db.engine.dispose()  # a template database must have no sessions
    with psycopg.connect(_libpq(url)) as c:
        due = c.execute(
            "SELECT count(*), count(DISTINCT number), min(response_due_at), max(next_check_at) FROM tickets"
            " WHERE state = 'dispatched' AND escalation_level = 0 AND dispatched_at = %s",
            (NOW,),
        ).fetchone()
    assert due is not None and due[:2] == (TICKETS, TICKETS), due
    assert due[2].isoformat() == "2026-03-02T06:00:00+00:00" and due[3] == NOW, due  # 14:00 in Shanghai
    yield url
    with psycopg.connect(_admin(postgis_url), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")


@pytest.fixture
def db_url(template_url: str) -> Iterator[str]:
    """This test's own copy of the template database."""
    name = f"{TEMPLATE_DB}_{next(_copies)}"
    with psycopg.connect(_admin(template_url), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        c.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    yield make_url(template_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(_admin(template_url), autocommit=True) as c:
        c.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def start_worker(url: str, at: str, photo_dir: Path, **settings: object) -> subprocess.Popen[str]:
    """`python -m workers --once --at AT` on `url`, with SUISHOUPAI_<NAME> settings; output captured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUISHOUPAI_") and k != "DATABASE_URL"}
    env.update({"DATABASE_URL": url, "SUISHOUPAI_ENV": "testing", "SUISHOUPAI_PHOTO_DIR": str(photo_dir)})
    env.update({f"SUISHOUPAI_{name}": str(value).lower() if isinstance(value, bool) else str(value)
                for name, value in settings.items()})
    return subprocess.Popen(
        [sys.executable, "-m", "workers", "--once", "--at", at], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=60)
    return proc.returncode, out


def wait_until_disconnected(url: str, timeout: float = 10) -> None:
    """Wait until no other session is connected to the database (a killed client's backend ends soon after)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(_libpq(url), autocommit=True) as c:
        while time.monotonic() < deadline:
            row = c.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            if row and row[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError("the killed worker's session is still connected")


def escalated_in(log: str) -> int:
    """How many escalations this worker's sweep reports having made (its own log line)."""
    found = re.search(r"sweep as of \S+ in [\d.]+s: (\{.*\})", log)
    return int(ast.literal_eval(found.group(1))["escalated"]) if found else 0


def tally(url: str) -> dict[str, object]:
    """What the database holds: worker escalations per ticket and level, levels, notifications per supervisor."""
    with psycopg.connect(_libpq(url)) as c:
        def one(sql: str) -> object:
            row = c.execute(sql).fetchone()
            return row[0] if row else None

        per_step = c.execute(
            "SELECT (data->>'level')::int AS level, count(*) AS events, count(DISTINCT ticket_id) AS tickets,"
            " max(n) AS most FROM (SELECT ticket_id, data, count(*) OVER (PARTITION BY ticket_id, data->>'level') AS n"
            " FROM ticket_events WHERE action = 'escalate') e GROUP BY 1 ORDER BY 1"
        ).fetchall()
        told = c.execute(
            "SELECT u.username, count(*), count(DISTINCT n.ticket_id) FROM notifications n JOIN users u ON u.id = n.user_id"
            " WHERE n.kind = 'escalate' GROUP BY 1 ORDER BY 1"
        ).fetchall()
        return {
            "steps": {level: (events, tickets, most) for level, events, tickets, most in per_step},
            "levels": dict(c.execute("SELECT escalation_level, count(*) FROM tickets GROUP BY 1").fetchall()),
            "told": {name: (rows, tickets) for name, rows, tickets in told},
            "events": one("SELECT count(*) FROM ticket_events WHERE action = 'escalate'"),
        }


def test_two_workers_racing_without_the_lock_escalate_each_ticket_once_per_step(db_url, tmp_path):
    # The leader lock is off: only the row claims (SKIP LOCKED) and the unique step keys keep
    # the two apart. Small batches with a pause make both sweeps overlap for about a second.
    race = {"SWEEP_BATCH": 25, "SWEEP_PAUSE_SECONDS": 0.1, "WORKER_LEADER_LOCK": False}
    for at, level, supervisor in ((MONDAY_15, 1, "supervisor_district"), (TUESDAY_15, 2, "supervisor_city")):
        pair = [start_worker(db_url, at, tmp_path, **race) for _ in range(2)]
        (code_a, log_a), (code_b, log_b) = (finish(p) for p in pair)
        assert (code_a, code_b) == (0, 0), log_a + log_b
        made = tally(db_url)
        assert made["steps"][level] == (TICKETS, TICKETS, 1), made  # one event per ticket at this level
        assert made["levels"] == {level: TICKETS}, made
        assert made["told"][supervisor] == (TICKETS, TICKETS), made  # one (inbox) message per ticket
        assert made["events"] == TICKETS * level
        # Both processes really swept: their own counts add up, and neither did it all.
        mine = (escalated_in(log_a), escalated_in(log_b))
        assert sum(mine) == TICKETS and min(mine) > 0, (mine, log_a, log_b)


def test_with_the_leader_lock_the_second_worker_stands_aside(db_url, tmp_path):
    pair = [start_worker(db_url, MONDAY_15, tmp_path, SWEEP_BATCH=25, SWEEP_PAUSE_SECONDS=0.1) for _ in range(2)]
    results = [finish(p) for p in pair]
    codes = sorted(code for code, _ in results)
    logs = "".join(log for _, log in results)
    # The follower either finds the lock taken (exit 3) or comes after the leader and finds nothing due.
    assert codes in ([0, 3], [0, 0]), logs
    if codes == [0, 3]:
        assert "another worker holds the lock" in logs
    assert sorted(escalated_in(log) for _, log in results) == [0, TICKETS], logs
    made = tally(db_url)
    assert made["steps"][1] == (TICKETS, TICKETS, 1) and made["told"]["supervisor_district"] == (TICKETS, TICKETS)


def test_a_worker_killed_mid_sweep_and_restarted_escalates_each_ticket_once(db_url, tmp_path):
    batch = 20
    proc = start_worker(db_url, MONDAY_15, tmp_path, SWEEP_BATCH=batch, SWEEP_PAUSE_SECONDS=0.3,
                        WORKER_LEADER_LOCK=False)
    done = 0
    deadline = time.monotonic() + 30
    with psycopg.connect(_libpq(db_url), autocommit=True) as c:
        while time.monotonic() < deadline and proc.poll() is None:
            row = c.execute("SELECT count(*) FROM ticket_events WHERE action = 'escalate'").fetchone()
            done = row[0] if row else 0
            if done >= 3 * batch:
                break
            time.sleep(0.05)
    assert proc.poll() is None, "the worker finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    partial = tally(db_url)
    done = int(partial["events"])  # type: ignore[arg-type]
    # Some work, not all of it; only whole batches are committed, each with its tickets and messages.
    assert 0 < done < TICKETS and done % batch == 0, partial
    assert partial["levels"] == {0: TICKETS - done, 1: done}, partial
    assert partial["told"]["supervisor_district"] == (done, done), partial

    wait_until_disconnected(db_url)  # the dead worker's batch in flight is rolled back and unlocked
    code, log = finish(start_worker(db_url, MONDAY_15, tmp_path, SWEEP_BATCH=batch))
    assert code == 0, log
    assert escalated_in(log) == TICKETS - done, log  # the restart does exactly what was left
    made = tally(db_url)
    assert made["steps"][1] == (TICKETS, TICKETS, 1), made
    assert made["levels"] == {1: TICKETS}, made
    assert made["told"]["supervisor_district"] == (TICKETS, TICKETS), made


def test_overlapping_claims_skip_each_other_and_each_step_happens_once(db_url, tmp_path):
    """Two sweeps inside open transactions at the same moment (two connections, one thread)."""
    from sqlalchemy import text
    from sqlalchemy.orm import scoped_session, sessionmaker

    from ticketing.extensions import db
    from ticketing.services.sweep import SweepSettings, sweep_batch

    app = make_app(db_url, tmp_path)
    settings = SweepSettings.from_config({**app.config, "SWEEP_BATCH": 200})
    at = datetime.fromisoformat(MONDAY_15)
    with app.app_context():
        original = db.session
        first = scoped_session(sessionmaker(bind=db.engine))  # two sessions, two connections
        second = scoped_session(sessionmaker(bind=db.engine))
        try:
            db.session = first  # type: ignore[assignment]
            a = sweep_batch(at, settings)  # holds its 200 claims, uncommitted
            db.session = second  # type: ignore[assignment]
            second.execute(text("SET LOCAL lock_timeout = '5s'"))  # waiting for the first would fail the test
            b = sweep_batch(at, settings)  # skips them and takes the next 200
            second.commit()
            first.commit()
            c = sweep_batch(at, settings)  # the rest
            second.commit()
        finally:
            db.session = original
            first.remove()
            second.remove()
            db.engine.dispose()
    assert (a["escalated"], b["escalated"], c["escalated"]) == (200, 200, TICKETS - 400)
    made = tally(db_url)
    assert made["steps"][1] == (TICKETS, TICKETS, 1) and made["told"]["supervisor_district"] == (TICKETS, TICKETS)


def test_tickets_merely_referenced_by_another_transaction_are_still_swept(db_url, tmp_path):
    """A foreign-key check (a repeats job or an outbox insert elsewhere) takes FOR KEY SHARE on the
    ticket; the sweep's claim must not skip such tickets as if another sweep held them."""
    from sqlalchemy import text

    from ticketing.extensions import db
    from ticketing.services.sweep import SweepSettings, sweep_batch

    app = make_app(db_url, tmp_path)
    settings = SweepSettings.from_config({**app.config, "SWEEP_BATCH": TICKETS})
    with app.app_context(), db.engine.connect() as other:
        other.execute(text("SELECT id FROM tickets FOR KEY SHARE"))  # held until the end of the block
        counts = sweep_batch(datetime.fromisoformat(MONDAY_15), settings)
        db.session.commit()
        other.rollback()
        db.session.remove()
        db.engine.dispose()
    assert counts["examined"] == counts["escalated"] == TICKETS
