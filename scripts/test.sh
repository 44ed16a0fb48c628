#!/usr/bin/env bash
# The whole test suite: sets up .venv from the lock file, runs every test on the embedded
# SQLite default, then the database tests again and the Celery worker tests on PostgreSQL
# (the local server unless RUNWRIGHT_TEST_POSTGRES names another; the Celery tests use the
# local Redis and RabbitMQ). Extra arguments go to both pytest runs.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -r requirements.lock
.venv/bin/python -m pip install -q --no-deps -e .

echo "== runwright tests on SQLite"
env -u DATABASE_URL .venv/bin/python -m pytest -m "not postgres" "$@"

echo "== runwright database and Celery tests on PostgreSQL"
DATABASE_URL=${RUNWRIGHT_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/postgres} \
  .venv/bin/python -m pytest tests/logging_core tests/celery "$@"
