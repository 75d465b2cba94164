"""The worker process: `python -m workers` runs the APScheduler jobs of `workers.jobs`.

It never runs inside the web process. Until the escalation issue lands, its only job
is a heartbeat that shows the process is alive and can reach the database.
"""
