"""GET /api/v1/health: the database answers, and when the worker last completed each job."""

from __future__ import annotations

from typing import Any

from flask_smorest import Blueprint
from sqlalchemy import text

from ticketing.extensions import db
from ticketing.services import worker_runs

blp = Blueprint("api_health", __name__, description="Service health")


@blp.route("/health", methods=["GET"])
@blp.response(200)
def health() -> dict[str, Any]:
    """For monitors and the web page's health line; no personal data, no authentication."""
    db.session.execute(text("SELECT 1"))
    return {
        "database": "ok",
        "worker": {
            run.job: {
                "last_finished_at": run.last_finished_at.isoformat() if run.last_finished_at else None,
                "last_as_of": run.last_as_of.isoformat() if run.last_as_of else None,
                "counts": run.counts,
            }
            for run in worker_runs.latest()
        },
    }
