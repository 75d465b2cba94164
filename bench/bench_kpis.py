"""KPI queries on PostGIS with 100k-1M tickets and ~10 events each: the rollup table against the event walk.

    python -m bench.bench_kpis            # quick: 10k and 50k tickets, 20 runs per query
    python -m bench.bench_kpis --full     # 100k, 300k and 1M tickets, 50 runs (`make bench`)

The database: as `bench.bench_sweep` (--url / $BENCH_DATABASE_URL, else the local server, where
a database `suishoupai_bench_kpis` is dropped and made again, else a throwaway cluster).

Per size the population grows (cumulatively) with tickets generated set-based in SQL over the
two years before NOW (`bench.kpi_population`: ten districts, every category, a dozen life
stories); the worker's `kpi_facts` job then builds their facts, timed. Each of four dashboard
queries (`metrics.compute`, exactly as GET /api/v1/kpis calls it) runs RUNS times, each in its
own session and transaction: 下城区 this month and last year, the city this month and last
year. Also measured: the event walk (`metrics.compute_from_events`, the implementation the
rollup replaced) for the district's month, whose answer must equal the rollup's; a KPI query
that first catches up on 1,000 tickets changed since the worker's last run; and EXPLAIN
(ANALYZE, BUFFERS) of the aggregate and snapshot statements. Markdown goes to stdout,
progress to stderr.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, func, select, text
from sqlalchemy.engine import make_url

from bench.bench_sweep import (
    _local_server,
    _server_version,
    fresh_database,
    say,
    throwaway_cluster,
    wipe_database,
)

SH = ZoneInfo("Asia/Shanghai")
# A Friday late in March: the month so far holds about 20 days of tickets.
NOW = datetime(2026, 3, 20, 10, 0, tzinfo=SH)
DATABASE = "suishoupai_bench_kpis"
QUICK_SIZES = (10_000, 50_000)
FULL_SIZES = (100_000, 300_000, 1_000_000)
QUICK_RUNS, FULL_RUNS = 20, 50
CHUNK = 100_000  # tickets per generating statement and commit
CHANGED = 1_000  # tickets touched between two worker runs, for the catch-up measurement
WALK_RUNS = 3
FACTS_RUNS = 5
CITY, DISTRICT, STREET = "330100", "330103", "330105012"
TARGETS_MS = {"district": 300.0, "city": 1000.0}


@dataclass(frozen=True)
class Query:
    """One dashboard query: whose KPIs over which local dates."""

    name: str
    unit: str
    first: date
    last_exclusive: date

    @property
    def scope(self) -> str:
        return "city" if self.unit == CITY else "district"


QUERIES = (
    Query("下城区, this month", DISTRICT, date(2026, 3, 1), date(2026, 3, 21)),
    Query("下城区, 2025", DISTRICT, date(2025, 1, 1), date(2026, 1, 1)),
    Query("city, this month", CITY, date(2026, 3, 1), date(2026, 3, 21)),
    Query("city, 2025", CITY, date(2025, 1, 1), date(2026, 1, 1)),
)


@dataclass
class Timing:
    """RUNS wall times (seconds) of one query, and how many dispatches it measured."""

    query: Query
    dispatches: int
    runs: list[float]

    def pct(self, p: float) -> float:
        ordered = sorted(self.runs)
        return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered) + 0.5) - 1))]


@dataclass
class SizeResult:
    """What one population size measured."""

    tickets: int
    events: int
    facts: int
    generate_s: float
    fill_s: float
    filled_tickets: int
    timings: list[Timing]
    walk_s: list[float]
    walk_dispatches: int
    catch_up_s: float
    catch_up_worker_s: float
    facts_only: dict[str, list[float]] = field(default_factory=dict)
    plans: dict[str, str] = field(default_factory=dict)
    sizes_mb: dict[str, float] = field(default_factory=dict)


@dataclass
class Bench:
    app: Any
    template: int
    world: Any
    tickets: int = 0
    seed: float = 0.1
    results: list[SizeResult] = field(default_factory=list)


def make_bench(url: str, photo_dir: str) -> Bench:
    """The app on `url`, migrated, with the Hangzhou world, nine more districts and one real template ticket."""
    import flask_migrate

    from bench import kpi_population as pop
    from bench.population import report_template
    from ticketing.app import create_app
    from ticketing.demo import HZ_USERS, build_hangzhou, create_users
    from ticketing.extensions import db

    app = create_app({"ENV_NAME": "testing", "DATABASE_URL": url, "PHOTO_DIR": photo_dir})
    with app.app_context():
        flask_migrate.upgrade()
        start = datetime(2024, 1, 2, 9, 0, tzinfo=SH)
        build_hangzhou(start, with_users=False)
        # Only the people the trails name: hashing every demo user's password takes seconds.
        create_users(tuple(u for u in HZ_USERS if u.username in pop.ACTORS), start)
        pop.add_districts(CITY)
        db.session.commit()
        # Copied for the columns the KPIs never read (location, routing, reporter...).
        template = report_template(app, datetime(2024, 1, 2, 10, 0, tzinfo=SH))
        world = pop.load_world(CITY)
        # The template's own trail would be measured too: leave it out of every query's period.
        db.session.remove()
    return Bench(app, template, world, tickets=1)


def _vacuum(*tables: str) -> None:
    from ticketing.extensions import db

    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in tables:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")


def _grow(bench: Bench, size: int) -> dict[str, int]:
    from bench import kpi_population as pop
    from ticketing.extensions import db

    totals: dict[str, int] = {}
    while bench.tickets < size:
        n = min(CHUNK, size - bench.tickets)
        pop.prepare(bench.world)
        bench.seed = (bench.seed * 7 + 0.13) % 1.0
        made = pop.generate(bench.world, bench.template, n, NOW, bench.seed)
        db.session.commit()
        for key, value in made.items():
            totals[key] = totals.get(key, 0) + value
        bench.tickets += n
        say(f"  ... {bench.tickets:,} tickets ({made['events']:,} events in this chunk)")
    return totals


def _fill(app: Any) -> tuple[float, int]:
    """The worker's kpi_facts job until the queue is empty; (seconds, tickets rebuilt)."""
    from workers.jobs import kpi_facts

    with app.app_context():
        started = time.perf_counter()
        counts = kpi_facts(app, NOW)
        return time.perf_counter() - started, int(counts.get("tickets", 0))


def _filter(query: Query) -> Any:
    from ticketing import metrics
    from ticketing.extensions import db
    from ticketing.models import OrgUnit

    unit = db.session.scalar(select(OrgUnit.id).where(OrgUnit.code == query.unit))
    assert unit is not None, query.unit
    start, end = metrics.local_period(query.first, query.last_exclusive, "Asia/Shanghai")
    return metrics.KpiFilter(unit, start, end)


MODES = ("rollup", "facts", "walk")


@contextmanager
def _months_off() -> Iterator[None]:
    """`metrics.compute` with the monthly rollup switched off: the population from `kpi_facts` alone."""
    from ticketing import metrics

    original = metrics._aggregate
    metrics._aggregate = functools.partial(original, months=False)  # type: ignore[assignment]
    try:
        yield
    finally:
        metrics._aggregate = original  # type: ignore[assignment]


def _compute(app: Any, query: Query, *, mode: str = "rollup") -> tuple[float, dict[str, Any]]:
    """One KPI query as the API runs it, in a fresh session; (seconds, result). Rolled back.

    `mode`: "rollup" is `metrics.compute` as it is; "facts" the same without the monthly
    rollup; "walk" the event walk `metrics.compute_from_events` that the rollups replaced.
    """
    from ticketing import metrics
    from ticketing.extensions import db

    with app.app_context(), (_months_off() if mode == "facts" else nullcontext()):
        try:
            kf = _filter(query)
            settings = app.extensions["ticket_settings"]
            due = {"due_soon_response_hours": float(app.config["REMIND_RESPONSE_BEFORE_HOURS"]),
                   "due_soon_resolution_hours": float(app.config["REMIND_RESOLUTION_BEFORE_HOURS"])}
            run = metrics.compute_from_events if mode == "walk" else metrics.compute
            started = time.perf_counter()
            result = run(kf, NOW, settings, **due)
            return time.perf_counter() - started, result
        finally:
            db.session.rollback()
            db.session.remove()


@contextmanager
def _statements(app: Any) -> Iterator[list[tuple[str, Any]]]:
    from ticketing.extensions import db

    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


_STATEMENTS = (
    ("FROM kpi_month_hist", "month histograms"),
    ("FROM kpi_months", "month sums"),
    ("ended_at IS NULL", "lasting dispatches"),
    ("GROUP BY kpi_facts", "fact sums and histograms"),
    ("ORDER BY kpi_facts", "middle bucket"),
    ("FROM tickets", "open tickets"),
)


def explain(app: Any, query: Query) -> dict[str, str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the statements of one `compute` that read the rollups or count open tickets."""
    from ticketing.extensions import db

    with _statements(app) as seen:
        _compute(app, query)
    plans: dict[str, str] = {}
    with app.app_context():
        conn = db.session.connection()
        for statement, params in seen:
            name = next((label for marker, label in _STATEMENTS if marker in statement), None)
            if name is None or "count(*) FILTER" not in statement and name == "open tickets":
                continue
            while name in plans:
                name += "'"
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, params).all()
            plans[name] = "\n".join(r[0] for r in rows)
        db.session.rollback()
        db.session.remove()
    return plans


def _touch(app: Any, n: int) -> None:
    """A comment on `n` random tickets, as a minute of activity would add (the trigger queues them)."""
    from ticketing.extensions import db

    with app.app_context():
        db.session.execute(text(
            "INSERT INTO ticket_events (ticket_id, action, at, actor_role, from_state, to_state, round, "
            "handling_unit_id, note, data) "
            "SELECT t.id, 'comment', CAST(:now AS timestamptz), 'deputy', t.state, t.state, t.round, "
            "t.handling_unit_id, 'bench', '{}' FROM tickets t WHERE t.id IN "
            "(SELECT 2 + floor(random() * (SELECT max(id) - 2 FROM tickets))::int FROM generate_series(1, :n))"
        ), {"now": NOW, "n": n})
        db.session.commit()
        db.session.remove()


def _table_mb(app: Any) -> dict[str, float]:
    from ticketing.extensions import db

    with app.app_context():
        out = {}
        for name in ("tickets", "ticket_events", "kpi_facts", "kpi_months", "kpi_month_hist"):
            size = db.session.scalar(text("SELECT pg_total_relation_size(CAST(:n AS regclass))"), {"n": name})
            out[name] = (size or 0) / 2**20
        db.session.remove()
        return out


def _same(got: dict[str, Any], expected: dict[str, Any], what: str) -> None:
    if got != expected:
        diff = {k: (got[k], expected.get(k)) for k in got if got[k] != expected.get(k)}
        raise AssertionError(f"{what} disagree: {diff}")


def measure_size(bench: Bench, size: int, runs: int, *, repeats: int = FACTS_RUNS, changed: int = CHANGED) -> SizeResult:
    """Grow to `size` tickets, fill the facts as the worker does, then time the queries.

    `repeats`: runs of the slow comparisons (the event walk: at most WALK_RUNS); `changed`:
    tickets touched for the catch-up measurement.
    """
    from ticketing.extensions import db
    from ticketing.models import KpiFact, TicketEvent

    app = bench.app
    say(f"{size:,} tickets: generating")
    with app.app_context():
        started = time.perf_counter()
        _grow(bench, size)
        generate_s = time.perf_counter() - started
        db.session.remove()
        _vacuum("tickets", "ticket_events", "ratings", "kpi_fact_queue")
    say("  filling the facts (the worker's kpi_facts job)")
    fill_s, filled = _fill(app)
    with app.app_context():
        _vacuum("kpi_facts", "kpi_months", "kpi_month_hist", "kpi_fact_queue", "kpi_fact_state")
        events = db.session.scalar(select(func.count()).select_from(TicketEvent)) or 0
        facts = db.session.scalar(select(func.count()).select_from(KpiFact)) or 0
        db.session.remove()
    say(f"  {facts:,} facts in {fill_s:.1f} s; checking against the event walk")
    walk_times = []
    walk_result: dict[str, Any] = {}
    for _ in range(min(WALK_RUNS, repeats)):
        elapsed, walk_result = _compute(app, QUERIES[0], mode="walk")
        walk_times.append(elapsed)
    _same(_compute(app, QUERIES[0])[1], walk_result, "the rollup and the event walk")
    # The annual queries without the monthly rollup: the same numbers, and what they cost.
    facts_only: dict[str, list[float]] = {}
    for query in (QUERIES[1], QUERIES[3]):
        with_months = _compute(app, query)[1]
        facts_only[query.name] = []
        for _ in range(repeats):
            elapsed, alone = _compute(app, query, mode="facts")
            facts_only[query.name].append(elapsed)
        _same(with_months, alone, f"{query.name} with and without the monthly rollup")
    timings = []
    for query in QUERIES:
        _compute(app, query)  # warm the cache once, as a dashboard in use is
        times, dispatches = [], 0
        for _ in range(runs):
            elapsed, answer = _compute(app, query)
            times.append(elapsed)
            dispatches = answer["dispatches"]
        timing = Timing(query, dispatches, times)
        timings.append(timing)
        say(f"  {query.name}: {dispatches:,} dispatches, p50 {timing.pct(0.5) * 1000:.0f} ms, "
            f"p95 {timing.pct(0.95) * 1000:.0f} ms")
    plans = {}
    for query in (QUERIES[0], QUERIES[3]):
        for name, plan in explain(app, query).items():
            plans[f"{query.name}: {name}"] = plan
    say(f"  catching up on {changed:,} changed tickets")
    _touch(app, changed)
    catch_up, _ = _compute(app, QUERIES[0])  # rolled back: the worker still has them to do
    catch_up_worker, _ = _fill(app)
    result = SizeResult(size, events, facts, generate_s, fill_s, filled, timings, walk_times,
                        walk_result["dispatches"], catch_up, catch_up_worker, facts_only, plans, _table_mb(app))
    bench.results.append(result)
    return result


def run(url: str, sizes: tuple[int, ...], runs: int, **measure: int) -> list[SizeResult]:
    """The benchmark on the PostGIS database at `url` (emptied by the caller)."""
    from ticketing.extensions import db

    with tempfile.TemporaryDirectory(prefix="suishoupai-bench-photos-") as photos:
        bench = make_bench(url, photos)
        try:
            for size in sorted(sizes):
                measure_size(bench, size, runs, **measure)
        finally:
            with bench.app.app_context():
                db.engine.dispose()
    return bench.results


# ------------------------------------------------------------------- reporting


def _plan_summary(plan: str) -> str:
    """The execution time and the scan/sort nodes of a plan, on one line."""
    keep = []
    for line in plan.splitlines():
        stripped = line.strip().lstrip("-> ").strip()
        if any(word in stripped for word in ("Scan", "Sort Method", "Aggregate")) and "Buffers" not in stripped:
            keep.append(stripped.split("  (cost")[0])
        if stripped.startswith("Execution Time"):
            keep.append(stripped)
    return "; ".join(keep)


def markdown(results: list[SizeResult], *, server: str, runs: int) -> str:
    """The results as markdown tables, then the plans at the largest size."""
    out = [
        f"As of {NOW.isoformat()} (Asia/Shanghai), PostgreSQL {server}; `metrics.compute` wall time in ms over "
        f"{runs} runs, each in its own session (p50 / p95 / max).",
        "",
        "| tickets | events | facts | query | dispatches measured | p50 | p95 | max | target (p95) |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        for i, t in enumerate(r.timings):
            target = TARGETS_MS[t.query.scope]
            ok = "✓" if t.pct(0.95) * 1000 < target else "✗"
            head = f"| {r.tickets:,} | {r.events:,} | {r.facts:,} |" if i == 0 else "| | | |"
            out.append(f"{head} {t.query.name} | {t.dispatches:,} | {t.pct(0.5) * 1000:.0f} | "
                       f"**{t.pct(0.95) * 1000:.0f}** | {max(t.runs) * 1000:.0f} | < {target:.0f} ms {ok} |")
    out += [
        "",
        "| tickets | generate (SQL) | fill the facts (worker job) | per ticket | catch-up of "
        f"{CHANGED:,} changed tickets in a query | the same by the worker | kpi_facts (+ indexes) | "
        "kpi_months + histograms | ticket_events (+ indexes) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        out.append(
            f"| {r.tickets:,} | {r.generate_s:.0f} s | {r.fill_s:.0f} s ({r.filled_tickets:,} tickets) | "
            f"{r.fill_s / max(1, r.filled_tickets) * 1e6:.0f} µs | {r.catch_up_s * 1000:.0f} ms | "
            f"{r.catch_up_worker_s * 1000:.0f} ms | {r.sizes_mb.get('kpi_facts', 0):.0f} MB | "
            f"{r.sizes_mb.get('kpi_months', 0) + r.sizes_mb.get('kpi_month_hist', 0):.1f} MB | "
            f"{r.sizes_mb.get('ticket_events', 0):.0f} MB |"
        )
    out += [
        "",
        "What the rollups replace, same answers (checked): median ms of the event walk "
        f"(`compute_from_events`, {WALK_RUNS} runs) and of the facts without the monthly rollup ({FACTS_RUNS} runs):",
        "",
        "| tickets | 下城区 this month: event walk | rollup (p50) | 下城区 2025: facts only | rollup (p50) "
        "| city 2025: facts only | rollup (p50) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        by_name = {t.query.name: t for t in r.timings}
        year_d, year_c = QUERIES[1].name, QUERIES[3].name
        out.append(
            f"| {r.tickets:,} | {statistics.median(r.walk_s) * 1000:.0f} | {r.timings[0].pct(0.5) * 1000:.0f} | "
            f"{statistics.median(r.facts_only[year_d]) * 1000:.0f} | {by_name[year_d].pct(0.5) * 1000:.0f} | "
            f"{statistics.median(r.facts_only[year_c]) * 1000:.0f} | {by_name[year_c].pct(0.5) * 1000:.0f} |"
        )
    out += ["", "EXPLAIN (ANALYZE, BUFFERS) summaries (scan, sort and aggregate nodes; execution time):", ""]
    for r in results:
        for name, plan in r.plans.items():
            out.append(f"- {r.tickets:,} tickets, {name}: {_plan_summary(plan)}")
    last = results[-1]
    out += ["", f"The plans at {last.tickets:,} tickets:", ""]
    for name, plan in last.plans.items():
        out += [f"{name}:", "", "```", plan, "```", ""]
    return "\n".join(out)


def _database(given: str | None) -> Iterator[str]:
    if given:
        yield wipe_database(given)
        return
    local = _local_server()
    if local:
        yield fresh_database(local, DATABASE)
        return
    with throwaway_cluster() as server:
        yield fresh_database(server, DATABASE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_kpis", description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="100k, 300k and 1M tickets, 50 runs per query")
    parser.add_argument("--sizes", help="comma-separated ticket counts (overrides the defaults)")
    parser.add_argument("--runs", type=int, help="runs per query and size")
    parser.add_argument("--url", default=os.environ.get("BENCH_DATABASE_URL"),
                        help="a PostGIS database to wipe and use (default: $BENCH_DATABASE_URL)")
    args = parser.parse_args(argv)
    sizes: tuple[int, ...] = FULL_SIZES if args.full else QUICK_SIZES
    if args.sizes:
        sizes = tuple(int(s.replace("_", "")) for s in args.sizes.split(","))
    runs = args.runs or (FULL_RUNS if args.full else QUICK_RUNS)
    with contextmanager(_database)(args.url) as url:
        say(f"database: {make_url(url).render_as_string(hide_password=True)}")
        version = _server_version(url)
        results = run(url, sizes, runs)
    print(markdown(results, server=version, runs=runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
