"""`make_store` is the one place that picks the backend; the S3 settings reach the store."""

from __future__ import annotations

import pytest

from ticketing.storage import make_store
from ticketing.storage.local import LocalStore
from ticketing.storage.s3 import S3Store


def test_local_is_the_default(tmp_path):
    assert isinstance(make_store({"PHOTO_DIR": str(tmp_path)}), LocalStore)


def test_s3_takes_bucket_prefix_endpoint_region_and_addressing_style():
    store = make_store({"PHOTO_STORAGE": "s3", "S3_BUCKET": "photos", "S3_PREFIX": "/qingdao",
                        "S3_ENDPOINT_URL": "http://127.0.0.1:9000", "S3_REGION": "cn-north-1",
                        "S3_ADDRESSING_STYLE": "path"})
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.endpoint_url, store.region, store.addressing_style) == (
        "photos", "qingdao/", "http://127.0.0.1:9000", "cn-north-1", "path")
    assert make_store({"PHOTO_STORAGE": "s3", "S3_BUCKET": "photos", "S3_PREFIX": ""}).prefix == ""


def test_the_default_settings_name_the_s3_defaults():
    import config

    s = config.Settings
    assert (s.PHOTO_STORAGE, s.S3_PREFIX, s.S3_ENDPOINT_URL, s.PHOTO_URL_SECONDS) == ("local", "suishoupai/", None, 300)
    assert config.Production.PHOTO_STORAGE == "s3"


@pytest.mark.parametrize(("config", "message"), [
    ({"PHOTO_STORAGE": "s3"}, "S3_BUCKET"),
    ({"PHOTO_STORAGE": "s3", "S3_BUCKET": "b", "S3_ADDRESSING_STYLE": "sideways"}, "S3_ADDRESSING_STYLE"),
    ({"PHOTO_STORAGE": "ftp"}, "unknown PHOTO_STORAGE"),
])
def test_a_misconfigured_store_fails_when_the_app_is_built(config, message):
    with pytest.raises(ValueError, match=message):
        make_store(config)


def test_s3_py_is_the_only_module_that_imports_boto3():
    import ast

    from tests.conftest import ROOT

    importers = set()
    for package in ("ticketing", "workers", "geo", "config"):
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
                if any(n.split(".")[0] in ("boto3", "botocore") for n in names):
                    importers.add(str(path.relative_to(ROOT)))
    assert importers == {"ticketing/storage/s3.py"}
