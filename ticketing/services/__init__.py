"""Use cases. Each takes explicit arguments (actor, now, settings), changes models,
flushes, and leaves the commit to its caller (the request, command or job)."""
