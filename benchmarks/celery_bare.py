"""The baseline task for bench_celery: what a platform writes by hand (subprocess.run), with
its finish time pushed to Redis so both cases are timed by the worker's clock."""

from __future__ import annotations

import subprocess
import time

import redis

from integrations.celery.app import get_app

_redis = redis.Redis(host="127.0.0.1", port=6379, db=6)


@get_app().task(name="bench.bare")
def bare(key: str) -> None:
    subprocess.run(["true"], capture_output=True)
    _redis.hset("rw-bench-bare", key, time.time())
