"""The photo store: one small interface, a backend per place photos live.

Keys are relative paths such as ``public/ab/cd/<sha256>-display.jpg``; objects under
``public/`` may be served to anyone allowed to see their ticket, everything else
(``private/``) only through the application.
"""

from __future__ import annotations

from typing import Protocol


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


def make_store(config: dict) -> PhotoStore:
    """Build the backend named by ``PHOTO_STORE`` from the app config."""
    kind = config.get("PHOTO_STORE", "local")
    if kind == "local":
        from ticketing.storage.local import LocalStore

        return LocalStore(config["PHOTO_DIR"])
    raise ValueError(f"unknown PHOTO_STORE {kind!r} (the S3 backend arrives with the photo pipeline issue)")
