"""An Open311 client published by someone else works against the server: `georeport` from PyPI
(Pramod Anandarao, Apache-2.0), over real HTTP, listing services and reading requests in XML and JSON."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from werkzeug.serving import make_server

from tests.conftest import NOW, TIANSHUI, make_app


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, list[str]]]:
    """The app on a SQLite database of its own with two committed reports, served on 127.0.0.1."""
    import flask_migrate

    from ticketing.demo import build_hangzhou
    from ticketing.extensions import db
    from ticketing.models import User
    from ticketing.services import tickets
    from sqlalchemy import select

    base = tmp_path_factory.mktemp("open311-client")
    app = make_app(f"sqlite:///{base / 'o311.db'}", base / "photos")
    numbers: list[str] = []
    with app.app_context():
        flask_migrate.upgrade()
        build_hangzhou(NOW)
        deputy = db.session.scalar(select(User).where(User.username == "deputy_wang"))
        for i, text in enumerate(("垃圾堆积", "路灯不亮")):
            ticket = tickets.report(
                actor=deputy, category_code="city.litter", description=text, lon=TIANSHUI[0], lat=TIANSHUI[1],
                now=NOW + timedelta(minutes=i), settings=app.extensions["ticket_settings"],
                store=app.extensions["photo_store"],
            )
            numbers.append(ticket.number)
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/open311/v2", numbers
    server.shutdown()


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_georeport_lists_services_and_reads_requests(served, fmt):
    from georeport import GeoReport

    root, numbers = served
    client = GeoReport(root, jurisdiction="hangzhou.gov.cn", output_format=fmt)
    services = client.get_service_list()
    codes = {s["service_code"] for s in services}
    assert "city.litter" in codes and len(codes) >= 20
    definition = client.get_service_definition("city.litter")
    assert definition["service_code"] == "city.litter"
    window = {"start_date": "2026-03-01T00:00:00Z", "end_date": "2026-03-03T00:00:00Z"}
    found = client.get_service_requests(**window)
    found = found if isinstance(found, list) else [found]  # xmltodict gives one element as a dict
    assert set(numbers) <= {r["service_request_id"] for r in found}
    both = client.get_service_requests(service_request_id=",".join(numbers))
    assert {r["service_request_id"] for r in both} == set(numbers)
    one = client.get_service_request(numbers[0])
    assert one["service_request_id"] == numbers[0]
    assert one["status"] == "open" and one["agency_responsible"] == "天水街道"
    assert one["requested_datetime"] == "2026-03-02T01:00:00Z"
