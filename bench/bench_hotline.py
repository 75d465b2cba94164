"""The hotline import on the whole Los Angeles set: 29,999 real MyLA311 requests.

    python -m bench.bench_hotline                  # SQLite + SpatiaLite (a temporary file)
    python -m bench.bench_hotline --db postgis     # PostGIS (see below)
    python -m bench.bench_hotline --db both

A fresh database is migrated and gets the Los Angeles world (`ticketing.demo.la`: the 99
neighbourhood councils and their real polygons). Then the three exports in `data/la311/`
(2017-12 and 2018-01 with CamelCase headers and US dates, 2020-01 with lowercase headers and
ISO dates; one `la311` mapping reads all three) go through `ticketing.bridge.hotline` as
`flask hotline import` runs it: first a dry run (read, check, route; nothing written), then
the import, a commit per batch of 1,000 rows, then the same import again (everything
skipped). Each phase is timed over all three files.

Printed (Markdown on stdout, progress on stderr): rows per second per phase, the outcome
counts (which must reconcile: created + skipped + rejected = rows), the reasons, and the
routing check on the whole set: of the rows with coordinates and a recorded council, how many
our polygons route to that council, and how many they do not (all listed with --list).

PostGIS: --url / $BENCH_DATABASE_URL (its public schema is wiped), else the local server on
127.0.0.1:5432 as `postgres` (database `suishoupai_bench` dropped and made again), else a
throwaway cluster, exactly as `bench.bench_sweep` does.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
FILES = tuple(sorted((ROOT / "data" / "la311").glob("la311_*.csv")))
# Monday 2 March 2026, 09:00 in Shanghai: the deployment's calendar has data for it.
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Phase:
    """One pass over every file: its time and the per-file reports."""

    name: str
    seconds: float = 0.0
    reports: list[Any] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(r.counts()["rows"] for r in self.reports)

    def counts(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for r in self.reports:
            total.update(r.counts())
        return dict(total)

    def reasons(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for r in self.reports:
            total.update(r.reasons())
        return dict(sorted(total.items()))

    def agreement(self) -> dict[str, Any]:
        keys = ("compared", "agreed", "disagreed", "of_which_outside")
        total = {k: sum(r.agreement()[k] for r in self.reports) for k in keys}
        total["rate"] = total["agreed"] / total["compared"] if total["compared"] else None
        return total


@contextmanager
def database(kind: str, url: str | None) -> Iterator[str]:
    """A database URL the benchmark may fill."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="suishoupai-hotline-") as base:
            yield f"sqlite:///{base}/bench.db"
        return
    from bench.bench_sweep import bench_database

    with bench_database(url or os.environ.get("BENCH_DATABASE_URL")) as found:
        yield found


def run(kind: str, url: str | None, files: tuple[Path, ...], batch: int) -> list[Phase]:
    """Migrate, build the LA world, then time the dry run, the import and the re-import."""
    os.environ.setdefault("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
    import flask_migrate

    from ticketing.app import create_app
    from ticketing.bridge import hotline
    from ticketing.demo.la import build_la
    from ticketing.extensions import db

    with database(kind, url) as db_url, tempfile.TemporaryDirectory(prefix="suishoupai-photos-") as photos:
        app = create_app({"ENV_NAME": "testing", "DATABASE_URL": db_url, "PHOTO_DIR": photos})
        phases = [Phase("dry run (read, check, route)"), Phase("import (commit per batch)"),
                  Phase("import again (all skipped)")]
        with app.app_context():
            say(f"{kind}: migrating and building the Los Angeles world")
            flask_migrate.upgrade()
            build_la(NOW)
            db.session.commit()
            mapping = hotline.load_mapping("la311")
            settings = app.extensions["ticket_settings"]
            for phase, dry in zip(phases, (True, False, False), strict=True):
                for path in files:
                    say(f"{kind}: {phase.name}: {path.name}")
                    started = time.perf_counter()
                    report = hotline.import_file(path, mapping=mapping, now=NOW, settings=settings, dry_run=dry,
                                                 batch=batch, after_batch=None if dry else db.session.commit)
                    if dry:
                        db.session.rollback()  # nothing was written; end the read transaction
                    else:
                        db.session.commit()
                    phase.seconds += time.perf_counter() - started
                    phase.reports.append(report)
            db.session.remove()
            db.engine.dispose()
    return phases


def markdown(kind: str, phases: list[Phase], files: tuple[Path, ...], listing: bool) -> str:
    """The results of one database as Markdown."""
    lines = [f"### {kind}", "", "| phase | rows | seconds | rows/s | created | skipped | rejected |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for p in phases:
        c = p.counts()
        assert c["created"] + c["skipped"] + c["rejected"] == c["rows"], c
        lines.append(f"| {p.name} | {p.rows:,} | {p.seconds:.1f} | {p.rows / p.seconds:,.0f} | {c['created']:,} "
                     f"| {c['skipped']:,} | {c['rejected']:,} |")
    imported = phases[1]
    check = imported.agreement()
    lines += [
        "",
        "Reasons (import): " + ", ".join(f"{k} {v:,}" for k, v in imported.reasons().items()),
        "",
        (f"Routing check on the whole set: {check['compared']:,} rows have coordinates and a recorded council; "
         f"{check['agreed']:,} route to that council (**{check['rate']:.2%}**), {check['disagreed']:,} do not "
         f"({check['of_which_outside']:,} of them fall outside every council polygon)."),
    ]
    if listing:
        lines += ["", "| file | row | SR number | lat | lon | recorded | routed |", "|---|---:|---|---:|---:|---|---|"]
        for path, report in zip(files, imported.reports, strict=True):
            for r in report.disagreements():
                lines.append(f"| {path.name} | {r.index} | {r.external_id} | {r.lat} | {r.lon} | {r.expected_unit} "
                             f"| {r.covering_unit or 'outside'} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgis", "both"], default="sqlite")
    parser.add_argument("--url", default=None, help="a PostGIS database to wipe and use")
    parser.add_argument("--batch", type=int, default=1000, help="rows per write batch and commit")
    parser.add_argument("--list", action="store_true", help="list every routing disagreement")
    args = parser.parse_args(argv)
    if len(FILES) != 3:
        raise SystemExit(f"expected the three LA exports in data/la311/, found {len(FILES)}")
    kinds = ["sqlite", "postgis"] if args.db == "both" else [args.db]
    print(f"Hotline import of {', '.join(p.name for p in FILES)} on {platform.machine()} "
          f"({os.cpu_count()} cores), Python {platform.python_version()}, as of {NOW.isoformat()}\n")
    for kind in kinds:
        phases = run(kind, args.url, FILES, args.batch)
        print(markdown(kind, phases, FILES, args.list), end="\n\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
