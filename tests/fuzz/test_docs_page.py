"""The OpenAPI documents and the browsable page: valid OpenAPI 3, and nothing loaded from elsewhere."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import schemathesis
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.parametrize("path", ["/api/v1/openapi.json", "/open311/v2/openapi.json"])
def test_the_documents_are_valid_openapi_3(fuzz_app: Flask, path: str) -> None:
    resp = fuzz_app.test_client().get(path)
    assert resp.status_code == 200
    assert resp.json["openapi"].startswith("3.0")
    # schemathesis's loader checks the document against the OpenAPI 3.0 meta-schema.
    schemathesis.openapi.from_dict(resp.json).validate()


def test_the_validation_would_catch_a_broken_document(fuzz_app: Flask) -> None:
    document = fuzz_app.test_client().get("/api/v1/openapi.json").json
    operation = document["paths"]["/api/v1/auth/token"]["post"]
    operation.setdefault("parameters", []).append({"in": "json_or_form", "name": "username", "schema": {}})
    with pytest.raises(Exception, match="json_or_form"):
        schemathesis.openapi.from_dict(document).validate()


def test_the_page_and_its_scripts_come_from_our_own_server(fuzz_app: Flask) -> None:
    client = fuzz_app.test_client()
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'url: "/api/v1/openapi.json"' in html
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert {Path(urlsplit(r).path).name for r in refs} >= {"swagger-ui-bundle.js", "swagger-ui.css"}
    for ref in refs:
        url = urljoin("http://localhost/api/v1/docs", ref)
        assert urlsplit(url).netloc == "localhost", f"{ref} is not on our server"
        resp = client.get(urlsplit(url).path)
        assert resp.status_code == 200, ref
        assert len(resp.data) > 1000, ref
    script = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert script.mimetype in ("text/javascript", "application/javascript")
    assert client.get("/static/vendor/swagger-ui/../../../config/__init__.py").status_code == 404


@pytest.fixture
def served(fuzz_app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, fuzz_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def test_the_page_renders_the_operations_in_a_browser_offline(served: str) -> None:
    """Headless Chromium opens the page; every request it makes stays on our server."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: `make test` installs it")
    from playwright.sync_api import sync_playwright

    hosts: set[str] = set()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page()
            page.on("request", lambda r: hosts.add(urlsplit(r.url).netloc))
            page.goto(f"{served}/api/v1/docs")
            page.wait_for_selector(".opblock", timeout=20_000)
            operations = page.locator(".opblock").count()
            title = page.locator(".info .title").inner_text()
        finally:
            browser.close()
    assert operations >= 50  # every operation of /api/v1 is listed
    assert "Suishoupai API" in title
    assert hosts == {urlsplit(served).netloc}
