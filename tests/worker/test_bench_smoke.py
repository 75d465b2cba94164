"""The sweep benchmark's harness at a tiny size (PostGIS), so `make bench` cannot rot unseen."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url

from bench import bench_sweep


def test_bench_harness_sweeps_the_due_tickets_through_the_partial_index(postgis_url):
    url = bench_sweep.fresh_database(postgis_url, "suishoupai_bench_smoke")
    try:
        (result,) = bench_sweep.run(url, (5_000,), due=500, runs=1)
    finally:
        admin = make_url(postgis_url).set(drivername="postgresql", database="postgres")
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS suishoupai_bench_smoke WITH (FORCE)")
    assert result.open_tickets == 5_000
    assert result.escalated == [500] and result.small_due == 50
    # The claim reads the partial index on next_check_at, not the table.
    assert "ix_tickets_next_check" in result.plan, result.plan
    assert "Seq Scan" not in result.plan, result.plan
    # Set-based: a handful of statements per batch of 2,000, not one (or more) per ticket.
    assert result.statements < 30, result.statements
    table = bench_sweep.markdown([result], server="test")
    assert "| 5,000 | 500 |" in table and "ix_tickets_next_check" in table
