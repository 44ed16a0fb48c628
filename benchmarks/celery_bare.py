"""The baseline tasks for bench_celery, what platforms write by hand, all timed by the worker's
clock (time.time() after their last write):

- ``bench.bare``: subprocess.run, nothing recorded (the finish time goes to Redis).
- ``bench.by_hand``: the row the submitter inserted (pending) and updated with the task id is
  set running, then the result saved: 4 commits per run, as platforms record runs today.
- ``bench.minimal``: the task inserts its row running and saves the result: 2 commits.
"""

from __future__ import annotations

import subprocess
import time

import redis

from runwright.integrations.celery.app import get_app

_redis = redis.Redis(host="127.0.0.1", port=6379, db=6)
TABLE = "bench_hand_run"
CREATE = (f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, status varchar(16) NOT NULL, "
          "task_id varchar(64) NOT NULL DEFAULT '', worker varchar(255) NOT NULL DEFAULT '', "
          "command text NOT NULL, exit_code integer, stdout text, stderr text, "
          "created_at double precision, started_at double precision, finished_at double precision)")


@get_app().task(name="bench.bare")
def bare(key: str) -> None:
    subprocess.run(["true"], capture_output=True)
    _redis.hset("rw-bench-bare", key, time.time())


def _cursor():  # type: ignore[no-untyped-def]
    from django.db import connection

    return connection.cursor()  # autocommit: each statement below is one commit


@get_app().task(name="bench.by_hand")
def by_hand(run_id: int) -> None:
    with _cursor() as cur:
        cur.execute(f"UPDATE {TABLE} SET status = 'running', started_at = %s, worker = %s WHERE id = %s",
                    [time.time(), "bench", run_id])
        proc = subprocess.run(["true"], capture_output=True)
        cur.execute(f"UPDATE {TABLE} SET status = %s, exit_code = %s, stdout = %s, stderr = %s, finished_at = %s "
                    "WHERE id = %s", ["success" if proc.returncode == 0 else "failed", proc.returncode,
                                      proc.stdout.decode(), proc.stderr.decode(), time.time(), run_id])


@get_app().task(name="bench.minimal")
def minimal(key: str) -> None:
    with _cursor() as cur:
        cur.execute(f"INSERT INTO {TABLE} (status, task_id, command, started_at) VALUES ('running', %s, 'true', %s) "
                    "RETURNING id", [key, time.time()])
        run_id = cur.fetchone()[0]
        proc = subprocess.run(["true"], capture_output=True)
        cur.execute(f"UPDATE {TABLE} SET status = %s, exit_code = %s, stdout = %s, stderr = %s, finished_at = %s "
                    "WHERE id = %s", ["success" if proc.returncode == 0 else "failed", proc.returncode,
                                      proc.stdout.decode(), proc.stderr.decode(), time.time(), run_id])
