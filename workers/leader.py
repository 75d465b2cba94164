"""Only one worker sweeps at a time.

On PostgreSQL a session-level advisory lock, held by a connection kept open for the
worker's life, makes one process the leader; the others wait and take over within a
poll when it dies (its connection closes and the lock goes with it). On SQLite an
exclusive lock on a file beside the database enforces one worker at a time. Either way
the unique step keys in the database make a duplicate impossible even if a lock failed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("workers")

# An arbitrary constant naming this application's lock among the database's advisory locks.
ADVISORY_KEY = 0x5355_4953  # "SUIS"


class Leadership:
    """Ask `held()` before each job run: it takes the lock if free and reports whether we hold it."""

    def __init__(self, engine: Engine, lock_file: str):
        self.engine = engine
        self.lock_file = lock_file
        self._conn: Connection | None = None
        self._fh: IO[Any] | None = None
        self._mutex = threading.Lock()  # jobs run in scheduler threads

    def held(self) -> bool:
        with self._mutex:
            if self.engine.dialect.name == "postgresql":
                return self._held_pg()
            return self._held_file()

    def _held_pg(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql("SELECT 1")
                return True
            except Exception:  # the connection died, and the lock with it
                log.warning("lost the leader connection; trying again")
                self._drop_conn()
        conn = self.engine.connect()
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
        conn.commit()
        if got:
            self._conn = conn
            log.info("this worker is the leader")
            return True
        conn.close()
        return False

    def _drop_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
            finally:
                self._conn = None

    def _held_file(self) -> bool:
        if self._fh is not None:
            return True
        Path(self.lock_file).parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.lock_file, "a+")  # noqa: SIM115 - kept open for the process's life
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            return False
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        self._fh = fh
        return True

    def release(self) -> None:
        """Give the lock up (at shutdown)."""
        with self._mutex:
            self._release()

    def _release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": ADVISORY_KEY})
                self._conn.commit()
            finally:
                self._conn.close()
                self._conn = None
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None
