"""One contract for every photo-store backend: the same tests on local files and on S3 (moto's server over HTTP)."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator

import pytest

from tests.conftest import s3_bucket
from ticketing.storage import PhotoStore, make_store

BACKENDS = ("local", "s3")


@pytest.fixture(params=BACKENDS)
def photo_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[PhotoStore]:
    """An empty store of each backend, built the way the app builds it (`make_store`)."""
    if request.param == "local":
        yield make_store({"PHOTO_STORAGE": "local", "PHOTO_DIR": str(tmp_path / "photos")})
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    _, bucket = s3_bucket(endpoint)
    yield make_store({"PHOTO_STORAGE": "s3", "S3_BUCKET": bucket, "S3_PREFIX": "contract/",
                      "S3_ENDPOINT_URL": endpoint, "S3_REGION": "us-east-1", "S3_ADDRESSING_STYLE": "path"})


KEY = "private/ab/cd/abcdef0123456789"


def test_put_then_get_returns_the_bytes_and_exists(photo_store):
    assert not photo_store.exists(KEY)
    photo_store.put(KEY, b"original bytes", "image/jpeg")
    assert photo_store.exists(KEY)
    assert photo_store.get(KEY) == b"original bytes"


def test_putting_the_same_key_again_overwrites(photo_store):
    photo_store.put(KEY, b"first", "image/jpeg")
    photo_store.put(KEY, b"second, longer", "image/png")
    assert photo_store.get(KEY) == b"second, longer"


def test_a_missing_key_is_a_key_error_and_does_not_exist(photo_store):
    with pytest.raises(KeyError):
        photo_store.get("private/00/00/missing")
    assert not photo_store.exists("private/00/00/missing")


def test_delete_removes_the_object_and_is_quiet_when_it_is_gone(photo_store):
    photo_store.put(KEY, b"x", "image/jpeg")
    photo_store.delete(KEY)
    assert not photo_store.exists(KEY)
    with pytest.raises(KeyError):
        photo_store.get(KEY)
    photo_store.delete(KEY)
    photo_store.delete("public/ff/ff/never-stored.jpg")


def test_nested_keys_are_separate_objects(photo_store):
    keys = {
        "private/ab/cd/abcd": b"original",
        "public/ab/cd/abcd-display.jpg": b"display",
        "public/ab/cd/abcd-thumb.jpg": b"thumb",
        "public/ab/ce/abce-display.jpg": b"another photo",
        "private/ab/cd/abcde": b"a longer hash, same directory",
    }
    for key, data in keys.items():
        photo_store.put(key, data, "application/octet-stream")
    for key, data in keys.items():
        assert photo_store.get(key) == data
    photo_store.delete("private/ab/cd/abcd")
    assert not photo_store.exists("private/ab/cd/abcd")
    assert photo_store.get("private/ab/cd/abcde") == b"a longer hash, same directory"
    assert photo_store.get("public/ab/cd/abcd-display.jpg") == b"display"


@pytest.mark.parametrize("data", [b"", bytes(range(256)) * 4, os.urandom(3 * 1024 * 1024 + 7)],
                         ids=["empty", "every-byte", "3MB-random"])
def test_binary_content_round_trips_unchanged(photo_store, data):
    photo_store.put(KEY, data, "application/octet-stream")
    assert photo_store.get(KEY) == data


@pytest.mark.parametrize("key", ["", "../escape", "private/../../etc/passwd", "/absolute", "a//b", "a/./b",
                                 "private\\ab", "trailing/"])
def test_keys_that_are_not_plain_relative_paths_are_refused(photo_store, key):
    with pytest.raises(ValueError):
        photo_store.put(key, b"x", "image/jpeg")
    with pytest.raises(ValueError):
        photo_store.get(key)
    with pytest.raises(ValueError):
        photo_store.exists(key)
    with pytest.raises(ValueError):
        photo_store.delete(key)


def test_url_is_a_presigned_get_on_s3_and_none_locally(photo_store, request):
    data = b"\xff\xd8\xff\xe0 a jpeg, as far as this test cares"
    photo_store.put(KEY, data, "image/jpeg")
    url = photo_store.url(KEY, expires=60)
    if request.node.callspec.params["photo_store"] == "local":
        assert url is None  # served through the application
        return
    assert url is not None and "X-Amz-Signature=" in url and "X-Amz-Expires=60" in url
    with urllib.request.urlopen(url, timeout=10) as resp:  # a plain HTTP client, as a browser would fetch it
        assert resp.status == 200
        assert resp.read() == data
        assert resp.headers["Content-Type"] == "image/jpeg"
        assert resp.headers["Cache-Control"] == "private, no-store"
