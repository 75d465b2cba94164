"""The KPI benchmark's harness at a tiny size (PostGIS), so that `make bench` cannot rot unseen."""

from __future__ import annotations

import psycopg
from sqlalchemy.engine import make_url

from bench import bench_kpis, bench_sweep


def test_bench_harness_generates_fills_and_times_the_kpi_queries(postgis_url):
    url = bench_sweep.fresh_database(postgis_url, "suishoupai_bench_kpis_smoke")
    try:
        # The harness itself checks the rollups against the event walk and each other.
        (result,) = bench_kpis.run(url, (400,), runs=2, repeats=1, changed=20)
    finally:
        admin = make_url(postgis_url).set(drivername="postgresql", database="postgres")
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as c:
            c.execute("DROP DATABASE IF EXISTS suishoupai_bench_kpis_smoke WITH (FORCE)")
    assert result.tickets == 400 and result.filled_tickets >= 400
    # About ten events a ticket; at least one dispatch each (excluded ones included).
    assert 7 * 400 < result.events < 12 * 400 and result.facts >= 400
    assert [len(t.runs) for t in result.timings] == [2, 2, 2, 2]
    city_year = result.timings[3]
    assert city_year.dispatches > 0
    # Whole months come from the monthly rollup; this month so far from the facts.
    assert any("month sums" in name for name in result.plans), list(result.plans)
    assert any("fact sums and histograms" in name for name in result.plans), list(result.plans)
    table = bench_kpis.markdown([result], server="test", runs=2)
    assert "| 400 |" in table and "city, 2025" in table
