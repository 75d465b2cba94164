"""Photos as files under one directory (the embedded default)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ticketing.storage import check_key


class LocalStore:
    """A `PhotoStore` on the local file system; writes are atomic (temp file + rename)."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # A symlink inside the root could still lead out of it.
        if not str(path).startswith(str(self.root.resolve()) + os.sep):
            raise ValueError(f"bad storage key {key!r}")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise KeyError(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def url(self, key: str, *, expires: int) -> str | None:
        """None: local files have no URL of their own; the application streams them."""
        self._path(key)
        return None
