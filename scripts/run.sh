#!/usr/bin/env bash
# `make run`: migrate the embedded database, load the demo into an empty one,
# then run the web app and the worker in the foreground; Ctrl-C stops both.
set -euo pipefail
host=${1:-127.0.0.1}; port=${2:-5000}
cd "$(dirname "$0")/.."
flask=.venv/bin/flask
$flask db upgrade
$flask demo load --if-empty
.venv/bin/python -m workers &
worker=$!
trap 'kill $worker 2>/dev/null; wait $worker 2>/dev/null' EXIT INT TERM
$flask demo logins --url "http://$host:$port/"
$flask run --host "$host" --port "$port" --no-reload
