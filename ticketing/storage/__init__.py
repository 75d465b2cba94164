"""The photo store: one small interface, a backend per place photos live.

Keys are relative paths such as ``public/ab/cd/<sha256>-display.jpg``. Objects under
``public/`` are the metadata-free copies, objects under ``private/`` the originals as
uploaded. For now the application serves both, checking permissions on every request;
the ``public/`` prefix is kept apart so that a public bucket policy or a CDN can serve
the copies of public tickets later without touching ``private/``.

`make_store` is the one place that picks the backend (``PHOTO_STORAGE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


class PhotoStore(Protocol):
    """What every storage backend provides."""

    def put(self, key: str, data: bytes, content_type: str) -> None:
        """Store `data` under `key`; storing the same key again overwrites it."""

    def get(self, key: str) -> bytes:
        """Return the object's bytes; KeyError if it does not exist."""

    def exists(self, key: str) -> bool:
        """True if an object is stored under `key`."""

    def delete(self, key: str) -> None:
        """Remove the object; no error if it is already gone."""

    def url(self, key: str, *, expires: int) -> str | None:
        """A URL that fetches the object for `expires` seconds without further checks,
        or None when the object is only reachable through the application."""


def check_key(key: str) -> str:
    """Return `key` if it is a plain relative path (no ``..``, no empty or absolute parts); else ValueError.

    Keys come from content hashes, but every backend refuses anything else the same way.
    """
    parts = key.split("/")
    if not key or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad storage key {key!r}")
    return key


def make_store(config: Mapping[str, Any]) -> PhotoStore:
    """Build the backend named by ``PHOTO_STORAGE`` (``local`` or ``s3``) from the app config."""
    kind = config.get("PHOTO_STORAGE", "local")
    if kind == "local":
        from ticketing.storage.local import LocalStore

        return LocalStore(config["PHOTO_DIR"])
    if kind == "s3":
        from ticketing.storage.s3 import S3Store

        if not config.get("S3_BUCKET"):
            raise ValueError("PHOTO_STORAGE=s3 needs S3_BUCKET (e.g. SUISHOUPAI_S3_BUCKET)")
        return S3Store(
            config["S3_BUCKET"],
            config.get("S3_PREFIX", "suishoupai/"),
            endpoint_url=config.get("S3_ENDPOINT_URL"),
            region=config.get("S3_REGION"),
            addressing_style=config.get("S3_ADDRESSING_STYLE", "auto"),
        )
    raise ValueError(f"unknown PHOTO_STORAGE {kind!r}; choose local or s3")
