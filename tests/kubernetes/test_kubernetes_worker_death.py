"""A real Celery worker's pool process SIGKILLed while it follows a Kubernetes Job: the Job goes
on in the cluster, the worker gets the message back and re-attaches (KubernetesRunner's policy
is REATTACH) through runwright's recovery, and the rest of the log is stored after what the
killed process stored, from the log cursor kept in the run's live metadata (stored with the
output it covers): no line twice, none missing."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable

import pytest

from runwright.integrations.celery import submit
from runwright.integrations.celery.worker_logger import worker_logger
from runwright.integrations.django.models import Execution
from runwright.runners import RunSpec
from tests.celery.conftest import final, redis_env, use_broker, wait_for, workers  # noqa: F401 - fixtures
from tests.infra.k8s_cluster import BUSYBOX, LocalCluster

pytestmark = pytest.mark.postgres
LINES = 60


def wait_until(what: str, check: Callable[[], bool], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def log_of(ref: int, stream: str | None = None) -> bytes:
    return b"".join(c.data for c in worker_logger().iter_log(ref) if stream is None or c.stream == stream)


def cursor_of(ref: int) -> object:
    return ((Execution.objects.get(pk=ref).result or {}).get("metadata") or {}).get("log_cursor")


def test_a_job_is_reattached_after_its_pool_process_is_killed(  # type: ignore[no-untyped-def]
    redis_env, workers, k8s_cluster: LocalCluster, k8s_namespace: str,  # noqa: F811
) -> None:
    # A long flush interval: output waits that long in the worker, unless live metadata that
    # covers it (the log cursor) is stored, which stores it with it.
    worker = workers({**redis_env, "RUNWRIGHT_FLUSH_INTERVAL": "3"}, 1)
    script = f"i=1; while [ $i -le {LINES} ]; do echo line-$i; i=$((i+1)); sleep 0.2; done"
    ref = submit(RunSpec(["sh", "-c", script], runner="kubernetes", grace_period=1, timeout=300,
                         options={"image": BUSYBOX, "image_pull_policy": "Never", "namespace": k8s_namespace,
                                  "kubeconfig": k8s_cluster.kubeconfig, "context": k8s_cluster.context}))
    wait_until("the Job runs with its handle and a log cursor stored",
               lambda: (lambda row: bool(row.handle) and "log_cursor" in ((row.result or {}).get("metadata") or {})
                        and b"line-5\n" in log_of(ref))(Execution.objects.get(pk=ref)))
    # Killed the moment the stored cursor moves on: a cursor stored ahead of the output it covers
    # (that output waiting for the flush interval) would lose those lines with the process.
    seen = cursor_of(ref)
    wait_until("the stored cursor moves on", lambda: cursor_of(ref) != seen)
    row = Execution.objects.get(pk=ref)
    assert row.handle["kind"] == "Job" and row.handle["namespace"] == k8s_namespace
    pool_pid = int(row.worker.rsplit(":", 1)[1])
    assert pool_pid in worker.pids() and pool_pid != worker.proc.pid
    os.kill(pool_pid, signal.SIGKILL)  # the pool process only: the worker hands the message back
    wait_for([ref], final, timeout=180)
    row = Execution.objects.get(pk=ref)
    assert row.status == "success" and row.exit_code == 0, (row.status, row.error_message)
    system = log_of(ref, "system").decode()
    assert "re-attached by worker" in system and "re-attached to Job" in system, system
    numbers = [int(n) for n in re.findall(rb"^line-(\d+)$", log_of(ref, "stdout"), re.MULTILINE)]
    assert len(numbers) == len(set(numbers)), "a line was stored twice"
    assert numbers == sorted(numbers) and numbers[-1] == LINES
    # The cursor is stored with the output it covers (one transaction): whenever the process
    # died, the next worker goes on right after what is stored, so no line is missing either.
    assert numbers == list(range(1, LINES + 1)), sorted(set(range(1, LINES + 1)) - set(numbers))


def test_a_job_whose_run_chose_stop_is_deleted_and_lost_when_its_worker_dies(  # type: ignore[no-untyped-def]
    redis_env, workers, k8s_cluster: LocalCluster, k8s_namespace: str, k8s_api,  # noqa: F811
) -> None:
    # The policy per run: re-attach is the default; `on_worker_lost: stop` deletes the Job
    # through its handle and marks the run lost.
    from kubernetes import client

    worker = workers(redis_env, 1)
    ref = submit(RunSpec(["sh", "-c", "echo started; sleep 600"], runner="kubernetes", grace_period=1, timeout=300,
                         options={"image": BUSYBOX, "image_pull_policy": "Never", "namespace": k8s_namespace,
                                  "kubeconfig": k8s_cluster.kubeconfig, "context": k8s_cluster.context,
                                  "on_worker_lost": "stop"}))
    wait_until("the Job runs with its handle stored",
               lambda: bool(Execution.objects.get(pk=ref).handle) and b"started\n" in log_of(ref))
    row = Execution.objects.get(pk=ref)
    assert row.handle["on_worker_lost"] == "stop"
    os.kill(int(row.worker.rsplit(":", 1)[1]), signal.SIGKILL)
    wait_for([ref], final, timeout=180)
    row = Execution.objects.get(pk=ref)
    assert row.status == "lost", (row.status, row.error_message)
    assert "stopped through its handle" in row.error_message, row.error_message
    assert "re-attached" not in log_of(ref, "system").decode()
    batch = client.BatchV1Api(k8s_api)
    assert all(job.metadata.name != row.handle["job"]
               for job in batch.list_namespaced_job(k8s_namespace).items), "the Job was left running"
    assert worker.proc.poll() is None
