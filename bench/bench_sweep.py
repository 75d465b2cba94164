"""The deadline sweep on PostGIS: 10,000 due tickets among 100k-1M open ones.

    python -m bench.bench_sweep            # quick: 100k and 300k open tickets
    python -m bench.bench_sweep --full     # 100k, 300k and 1M (`make bench`)

The database: --url / $BENCH_DATABASE_URL (its public schema is wiped), else the local
server on 127.0.0.1:5432 as `postgres` (a database `suishoupai_bench` is dropped and
made again), else a throwaway cluster started with initdb/pg_ctl in a temporary folder.

Per size the population grows (set-based clones of two really reported tickets, see
`bench.population`) to N open tickets: most are checked again only tomorrow (not due);
`RUNS` sets of 10,000 overdue ones are parked with a future check. A timed run arms one
set (the UPDATE every ticket change makes: next check = now), then times one whole
sweep as the worker runs it (`workers.jobs.sweep`: every batch, a commit per batch),
which escalates each of the 10,000 to the district. Armed sets stay open afterwards, so
every run of one size sees exactly N open tickets. The ticket trail is append-only, so
runs never undo a sweep: each run uses tickets no sweep has touched.

In the same run, as denominators on a noisy machine (docs/benchmarks.md): 10,000 bare
`SELECT 1` round trips (the floor of any one-query-per-ticket sweep), the sweep with
nothing due (the cost of the open tickets alone), and a sweep of 1,000 due tickets.
Markdown goes to stdout, progress to stderr.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bench.population import clone_tickets, report_template

ROOT = Path(__file__).resolve().parent.parent
SH = ZoneInfo("Asia/Shanghai")
# Monday 2 March 2026: reported at 09:00, the response is due at 14:00; the sweep runs at 15:00.
DISPATCHED = datetime(2026, 3, 2, 9, 0, tzinfo=SH)
NOT_DUE_REPORTED = datetime(2026, 3, 2, 14, 50, tzinfo=SH)  # first checked again on Monday evening or later
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=SH)
QUICK_SIZES = (100_000, 300_000)
FULL_SIZES = (100_000, 300_000, 1_000_000)
DUE = 10_000
RUNS = 3
CHUNK = 250_000  # tickets per cloning statement and commit
INDEX = "ix_tickets_next_check"


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------- the database


@contextmanager
def throwaway_cluster() -> Iterator[str]:
    """A PostgreSQL cluster in a temporary folder (as `postgres` when run as root); yields its admin URL."""
    base = Path(tempfile.mkdtemp(prefix="suishoupai-bench-"))
    if os.geteuid() == 0:
        pg_ctl = str(ROOT / "scripts" / "pg_ctl_as_postgres")  # pg_ctl refuses to run as root
    else:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        pg_ctl = found[-1] if found else "pg_ctl"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = base / "data"
    subprocess.run([pg_ctl, "initdb", "-D", str(data), "-o", "-U postgres -A trust"], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([pg_ctl, "start", "-w", "-D", str(data), "-l", str(base / "log"),
                    "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1"], check=True,
                   stdout=subprocess.DEVNULL)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([pg_ctl, "stop", "-D", str(data), "-m", "fast"], check=False, stdout=subprocess.DEVNULL)
        shutil.rmtree(base, ignore_errors=True)


def _plain(url: str) -> str:
    """A SQLAlchemy URL as libpq understands it."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def fresh_database(server_url: str, name: str) -> str:
    """Drop and create database `name` (with PostGIS) on the server of `server_url`; returns its URL."""
    admin = make_url(server_url).set(database="postgres")
    with psycopg.connect(_plain(admin.render_as_string(hide_password=False)), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}"')
        c.execute(f'CREATE DATABASE "{name}"')
    own = make_url(server_url).set(drivername="postgresql+psycopg", database=name).render_as_string(
        hide_password=False)
    with psycopg.connect(_plain(own), autocommit=True) as c:
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return own


def wipe_database(url: str) -> str:
    """Empty the public schema of an existing database (as tests/conftest.py does); returns the URL."""
    with psycopg.connect(_plain(url), autocommit=True) as c:
        c.execute("DROP SCHEMA IF EXISTS public CASCADE")
        c.execute("CREATE SCHEMA public")
        c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    return url


def _local_server() -> str | None:
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    try:
        with psycopg.connect(_plain(url), connect_timeout=2):
            return url
    except psycopg.Error:
        return None


@contextmanager
def bench_database(given: str | None) -> Iterator[str]:
    """The database the benchmark may fill: given, on the local server, or in a throwaway cluster."""
    if given:
        yield wipe_database(given)
        return
    local = _local_server()
    if local:
        yield fresh_database(local, "suishoupai_bench")
        return
    with throwaway_cluster() as server:
        yield fresh_database(server, "suishoupai_bench")


# ------------------------------------------------------------------- measuring


@dataclass
class SizeResult:
    """What one population size measured (seconds)."""

    open_tickets: int
    due: int
    runs: list[float]
    escalated: list[int]
    statements: int
    empty: float
    small_due: int
    small: float
    floor: float
    plan: str
    build: float
    batch: int

    @property
    def median(self) -> float:
        return statistics.median(self.runs)


@dataclass
class Bench:
    """The app, the two templates and how many tickets exist: the population grows size by size."""

    app: Any
    due_template: int = 0
    later_template: int = 0
    open_tickets: int = 0
    parked: datetime | None = None
    results: list[SizeResult] = field(default_factory=list)


def make_bench(url: str, photo_dir: str) -> Bench:
    """Create the app on `url`, migrate, build the Hangzhou world and report the two templates."""
    import flask_migrate

    from ticketing.app import create_app
    from ticketing.demo import build_hangzhou
    from ticketing.extensions import db
    from ticketing.models import Ticket
    from ticketing.services.sweep import SweepSettings, sweep_batch

    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": url, "PHOTO_DIR": photo_dir,
                      "SWEEP_PAUSE_SECONDS": 0.0})
    bench = Bench(app)
    with app.app_context():
        flask_migrate.upgrade()
        build_hangzhou(DISPATCHED)
        db.session.commit()
        # Reported at 14:50, then swept once: the sweep itself stores its real next check (in the evening).
        bench.later_template = report_template(app, NOT_DUE_REPORTED)
        sweep_batch(NOT_DUE_REPORTED, SweepSettings.from_config(app.config))
        db.session.commit()
        bench.due_template = report_template(app, DISPATCHED)
        due = db.session.get(Ticket, bench.due_template)
        later = db.session.get(Ticket, bench.later_template)
        assert due is not None and later is not None
        assert later.next_check_at is not None and later.next_check_at > NOW, later.next_check_at
        # Parked due tickets wait for their resolution deadline, days away; the template too.
        bench.parked = due.resolution_due_at
        due.next_check_at = bench.parked
        db.session.commit()
        bench.open_tickets = 2
        db.session.remove()
    return bench


def _vacuum(app: Any) -> None:
    from ticketing.extensions import db

    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM (ANALYZE) tickets")
        conn.exec_driver_sql("VACUUM (ANALYZE) ticket_events")
        conn.exec_driver_sql("VACUUM (ANALYZE) notifications")


def _grow(bench: Bench, size: int, sets: list[int]) -> list[tuple[int, int]]:
    """Add parked due sets of the given sizes, then not-due tickets up to `size` open; returns the sets' id ranges."""
    from ticketing.extensions import db

    parked = []
    for n in sets:
        parked.append(clone_tickets(bench.due_template, n, next_check_at=bench.parked))
        db.session.commit()
    rest = size - bench.open_tickets - sum(sets)
    if rest < 0:
        raise ValueError(f"{size} open tickets is too few for the due sets {sets}")
    while rest > 0:
        n = min(CHUNK, rest)
        clone_tickets(bench.later_template, n)
        db.session.commit()
        rest -= n
        say(f"  ... {size - rest:,} open")
    bench.open_tickets = size
    return parked


def _arm(first: int, last: int) -> None:
    """Make a parked set due, as any change to a ticket does (next check = its moment, here the dispatch)."""
    from ticketing.extensions import db

    db.session.execute(
        text("UPDATE tickets SET next_check_at = dispatched_at WHERE id BETWEEN :a AND :b"), {"a": first, "b": last}
    )
    db.session.commit()


def _timed_sweep(app: Any) -> tuple[float, dict[str, Any]]:
    """One whole sweep as the worker runs it; `counts` gains the number of SQL statements it sent."""
    from sqlalchemy import event

    from ticketing.extensions import db
    from workers.jobs import sweep

    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        started = time.perf_counter()
        counts = sweep(app, NOW)
        elapsed = time.perf_counter() - started
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    db.session.remove()
    return elapsed, {**counts, "statements": statements}


def round_trip_floor(n: int) -> float:
    """Seconds for `n` bare `SELECT 1` round trips on one connection: any per-ticket query pays this."""
    from ticketing.extensions import db

    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        started = time.perf_counter()
        for _ in range(n):
            cur.execute("SELECT 1")
            cur.fetchone()
        elapsed = time.perf_counter() - started
        raw.rollback()
    finally:
        raw.close()
    return elapsed


def explain_due_query(batch: int) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the sweep's claim as it runs at NOW; rolled back, so nothing stays locked."""
    from ticketing.extensions import db
    from ticketing.services.sweep import due_query

    compiled = due_query(NOW, batch, postgresql=True).compile(dialect=db.engine.dialect)
    conn = db.session.connection()
    rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + str(compiled), compiled.params).all()
    db.session.rollback()
    return "\n".join(r[0] for r in rows)


def measure_size(bench: Bench, size: int, *, due: int, runs: int,
                 profile: Callable[[Callable[[], Any]], Any] | None = None) -> SizeResult:
    """Grow to `size` open tickets and time `runs` sweeps of `due` overdue tickets (plus the baselines)."""
    from ticketing.extensions import db

    app = bench.app
    small_due = max(1, due // 10)
    with app.app_context():
        started = time.perf_counter()
        say(f"{size:,} open tickets: cloning")
        sets = _grow(bench, size, [due] * runs + [small_due])
        _vacuum(app)
        build = time.perf_counter() - started
        empties = []
        for _ in range(3):
            elapsed, counts = _timed_sweep(app)
            assert counts["examined"] == 0, counts
            empties.append(elapsed)
        floor = round_trip_floor(due)
        times: list[float] = []
        escalated: list[int] = []
        statements = 0
        plan = ""
        for i, (first, last) in enumerate(sets[:runs]):
            _arm(first, last)
            _vacuum(app)
            if i == 0:
                plan = explain_due_query(int(app.config["SWEEP_BATCH"]))
            if profile is not None and i == runs - 1:
                elapsed, counts = profile(lambda: _timed_sweep(app))  # slower under the profiler
            else:
                elapsed, counts = _timed_sweep(app)
            times.append(elapsed)
            escalated.append(counts["escalated"])
            statements = counts["statements"]
            if counts["escalated"] != due:
                raise AssertionError(f"run {i + 1}: escalated {counts['escalated']} of {due}: {counts}")
            say(f"  run {i + 1}: {due:,} due swept in {times[-1]:.3f} s")
        first, last = sets[-1]
        _arm(first, last)
        _vacuum(app)
        small, counts = _timed_sweep(app)
        assert counts["escalated"] == small_due, counts
        db.session.remove()
    result = SizeResult(size, due, times, escalated, statements, statistics.median(empties), small_due, small, floor, plan,
                        build, int(app.config["SWEEP_BATCH"]))
    bench.results.append(result)
    return result


def run(url: str, sizes: tuple[int, ...], *, due: int = DUE, runs: int = RUNS,
        profile: Callable[[Callable[[], Any]], Any] | None = None) -> list[SizeResult]:
    """The benchmark on the PostGIS database at `url` (emptied first by the caller)."""
    from ticketing.extensions import db

    with tempfile.TemporaryDirectory(prefix="suishoupai-bench-photos-") as photos:
        bench = make_bench(url, photos)
        try:
            for size in sorted(sizes):
                measure_size(bench, size, due=due, runs=runs, profile=profile)
        finally:
            with bench.app.app_context():
                db.engine.dispose()
    return bench.results


# ------------------------------------------------------------------- reporting


def markdown(results: list[SizeResult], *, server: str) -> str:
    """The results as a markdown table, then the largest size's plan."""
    out = [
        (f"Sweep as of {NOW.isoformat()} (Asia/Shanghai), SWEEP_BATCH={results[0].batch}, PostgreSQL {server}; "
         f"times in seconds, sweep = median of {len(results[0].runs)} runs [min-max]."),
        "",
        ("| open tickets | due | sweep (all batches, commits) | per due ticket | SQL statements | sweep, nothing due | "
         f"sweep, {results[0].small_due:,} due | {results[0].due:,} × `SELECT 1` (floor) | sweep / floor |"),
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        out.append(
            f"| {r.open_tickets:,} | {r.due:,} | **{r.median:.3f}** [{min(r.runs):.3f}-{max(r.runs):.3f}] | "
            f"{r.median / r.due * 1e6:.0f} µs | {r.statements} | {r.empty * 1000:.1f} ms | {r.small:.3f} | {r.floor:.3f} | "
            f"{r.median / r.floor:.2f} |"
        )
    last = results[-1]
    out += [
        "",
        (f"EXPLAIN (ANALYZE, BUFFERS) of the sweep's claim (`ticketing.services.sweep.due_query`) with "
         f"{last.due:,} due among {last.open_tickets:,} open tickets:"),
        "",
        "```",
        last.plan,
        "```",
    ]
    return "\n".join(out)


def _server_version(url: str) -> str:
    with psycopg.connect(_plain(url)) as c:
        row = c.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_sweep", description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="also 1,000,000 open tickets")
    parser.add_argument("--sizes", help="comma-separated open-ticket counts (overrides the defaults)")
    parser.add_argument("--due", type=int, default=DUE)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="a PostGIS database to wipe and use (default: $BENCH_DATABASE_URL)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile the last run of each size (slower: its time in the table is inflated)")
    args = parser.parse_args(argv)
    if args.sizes:
        sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(","))
    else:
        sizes = FULL_SIZES if args.full else QUICK_SIZES

    profile = None
    if args.profile:
        import cProfile
        import pstats

        def profile(fn: Callable[[], Any]) -> Any:
            prof = cProfile.Profile()
            result = prof.runcall(fn)
            pstats.Stats(prof, stream=sys.stderr).sort_stats(os.environ.get("BENCH_PROFILE_SORT", "cumulative")).print_stats(30)
            return result

    with bench_database(args.url) as url:
        say(f"database: {make_url(url).render_as_string(hide_password=True)}")
        version = _server_version(url)
        results = run(url, sizes, due=args.due, runs=args.runs, profile=profile)
    print(markdown(results, server=version))
    return 0


if __name__ == "__main__":
    sys.exit(main())
