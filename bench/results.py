"""Figures from one benchmark run, each with the baseline measured in the same run.

Every harness under `bench/` records what it measured with `record()`; `python -m bench`
collects the files under `var/bench/` and writes the table into docs/benchmarks.md. A
figure without a ratio is not a claim: the machine drifts by up to 2x within minutes, so
only a ratio against a baseline measured minutes apart means anything.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent.parent / "var" / "bench"


@dataclass(frozen=True)
class Figure:
    """One measured figure beside its baseline.

    `ratio` is value / baseline unless the harness states otherwise in `note` (for latencies,
    where smaller is better, say which way it reads). `target` is the issue's target in words
    ("ratio >= 0.5", "< 5 s"), `met` whether this run met it (None when there is no target).
    """

    section: str
    name: str
    value: float
    unit: str
    baseline_name: str
    baseline_value: float | None
    ratio: float | None
    target: str | None = None
    met: bool | None = None
    note: str = ""


@dataclass
class Run:
    """What one harness measured, with the command that reproduces it."""

    bench: str
    command: str
    figures: list[Figure] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


def ratio(value: float, baseline: float | None) -> float | None:
    """value / baseline, or None when there is no usable baseline."""
    return None if not baseline else value / baseline


def machine() -> dict[str, Any]:
    """The machine the figures belong to: CPU, cores, memory, OS, PostgreSQL if reachable."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    os_name = platform.platform()
    try:
        os_name = subprocess.run(
            ["sh", "-c", ". /etc/os-release && echo \"$PRETTY_NAME\""], capture_output=True, text=True, check=True
        ).stdout.strip() or os_name
    except (OSError, subprocess.CalledProcessError):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem_gib, "os": os_name,
            "python": platform.python_version()}


def record(run: Run) -> Path:
    """Write `run` to var/bench/<bench>.json (replacing an earlier run of the same harness)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{run.bench}.json"
    payload = {
        "bench": run.bench,
        "command": run.command,
        "at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "figures": [asdict(f) for f in run.figures],
        "details": run.details,
    }
    path.write_text(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
    return path


def load_all() -> list[dict[str, Any]]:
    """Every recorded run under var/bench/, oldest first."""
    if not RESULTS.is_dir():
        return []
    runs = [json.loads(p.read_text()) for p in sorted(RESULTS.glob("*.json"))]
    return sorted(runs, key=lambda r: r["at"])
