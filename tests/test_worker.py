"""The worker runs as its own process, beats, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import flask_migrate

from tests.conftest import ROOT, make_app


def _migrated_sqlite(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'worker.db'}"
    app = make_app(url, tmp_path / "photos")
    with app.app_context():
        flask_migrate.upgrade()
    return url


def test_worker_process_beats_and_stops_on_sigterm(tmp_path):
    env = {**os.environ, "DATABASE_URL": _migrated_sqlite(tmp_path), "SUISHOUPAI_WORKER_HEARTBEAT_SECONDS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workers"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "heartbeat at" in line:
            break
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    assert any("heartbeat" in line and "0 open tickets" in line for line in lines), lines
    assert proc.returncode == 0


def test_worker_once_runs_every_job_as_of_a_time(tmp_path):
    env = {**os.environ, "DATABASE_URL": _migrated_sqlite(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-m", "workers", "--once", "--at", "2026-03-02T09:00:00+08:00"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "heartbeat at 2026-03-02T01:00:00+00:00" in out.stderr


def test_a_second_worker_on_the_same_sqlite_database_is_refused(tmp_path):
    env = {**os.environ, "DATABASE_URL": _migrated_sqlite(tmp_path), "SUISHOUPAI_WORKER_HEARTBEAT_SECONDS": "1"}
    first = subprocess.Popen(
        [sys.executable, "-m", "workers"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert first.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "heartbeat at" not in first.stdout.readline():
            pass
        second = subprocess.run([sys.executable, "-m", "workers"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=60)
        assert second.returncode == 3
        assert "another worker is running" in second.stderr
        once = subprocess.run([sys.executable, "-m", "workers", "--once"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        assert once.returncode == 3
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=20)
    # Once the first is gone, the lock is free again.
    again = subprocess.run([sys.executable, "-m", "workers", "--once"], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60)
    assert again.returncode == 0, again.stderr
