"""Celery tests: real `runwright worker` processes on Redis or RabbitMQ and PostgreSQL."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

import pytest

from tests.infra.docker_engine import InfraError
from tests.infra.workers import Worker

HEARTBEAT, LEASE = "0.5", "3"


def broker_env(broker: str) -> dict[str, str]:
    return {
        "RUNWRIGHT_BROKER_URL": broker, "RUNWRIGHT_QUEUE": f"rw-test-{uuid.uuid4().hex[:8]}",
        "RUNWRIGHT_HEARTBEAT": HEARTBEAT, "RUNWRIGHT_LEASE": LEASE, "RUNWRIGHT_VISIBILITY_TIMEOUT": "5",
        "RUNWRIGHT_UNACKED_RESTORE_INTERVAL": "1",
        "RUNWRIGHT_CANCEL_POLL": "0.2",
    }


@pytest.fixture
def use_broker() -> Iterator[Callable[[str], dict[str, str]]]:
    """Point this process (and the workers it starts) at a broker and a queue of its own."""
    saved = dict(os.environ)

    def apply(broker: str) -> dict[str, str]:
        os.environ.update(broker_env(broker))
        from runwright.integrations.celery.worker_logger import worker_logger

        worker_logger.cache_clear()
        return dict(os.environ)

    yield apply
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture
def redis_env(use_broker) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return use_broker("redis://127.0.0.1:6379/5")  # type: ignore[no-any-return]


@pytest.fixture
def workers() -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def start(env: dict[str, str], concurrency: int = 2, queues: str | None = None,
              hostname: str | None = None, prefix: list[str] | None = None) -> Worker:
        try:
            w = Worker(env, concurrency, queues, hostname, prefix)
        except InfraError as exc:
            pytest.fail(str(exc), pytrace=False)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def wait_for(ids: Iterable[int], done: Callable[[str], bool], timeout: float = 60) -> dict[int, str]:
    """Poll the executions table until every id's status satisfies ``done``."""
    from runwright.integrations.django.models import Execution

    ids = list(ids)
    deadline = time.monotonic() + timeout
    while True:
        statuses = dict(Execution.objects.filter(pk__in=ids).values_list("id", "status"))
        if len(statuses) == len(ids) and all(done(s) for s in statuses.values()):
            return statuses
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting; statuses: {sorted(statuses.items())[:20]}")
        time.sleep(0.1)


def final(status: str) -> bool:
    return status not in ("pending", "running")
