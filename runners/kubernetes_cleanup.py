"""Removing what a Kubernetes run created: one run's Job and pods (a stop, a cleanup, a stop by
handle), and the sweep of what no active run owns (Jobs, pods, Secrets labelled as runwright's).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from runwright.runners.base import RunnerError
from runwright.runners.hooks import Stop
from runwright.runners.kubernetes_api import (
    ANNOTATION_EXECUTION,
    MANAGED_SELECTOR,
    api_message,
    configured_clusters,
    connect,
)

#: Seconds between two looks at whether deleted objects are gone.
POLL = 0.2


def delete_run(core: Any, batch: Any, namespace: str, job: str, selector: str | None, grace: float,
               propagation: str, confirm_within: float) -> Stop:
    """Delete Job ``namespace/job`` (``propagation``) and its pods (``selector``) with ``grace``
    seconds, and wait up to ``confirm_within`` seconds to see them gone. ``core`` and ``batch``
    are the client's CoreV1Api and BatchV1Api. Never raises for an API error: an unconfirmed
    Stop says what failed."""
    from kubernetes import client
    from kubernetes.client import ApiException

    seconds = math.ceil(grace)
    body = client.V1DeleteOptions(propagation_policy=propagation, grace_period_seconds=seconds)
    existed = True
    try:
        # No replacement pods while the Job goes: its controller would otherwise start a new
        # pod for each one deleted until the Job itself is gone (a foreground delete waits).
        batch.patch_namespaced_job(job, namespace, {"spec": {"parallelism": 0}})
    except ApiException as exc:
        if exc.status != 404:
            return Stop(False, f"stopping Job {namespace}/{job} failed: {api_message(exc)}")
    try:
        batch.delete_namespaced_job(job, namespace, body=body)
    except ApiException as exc:
        if exc.status != 404:
            return Stop(False, f"deleting Job {namespace}/{job} failed: {api_message(exc)}")
        existed = False
    # The pods get the run's grace period (the garbage collector would use the pods' own).
    if selector:
        try:
            core.delete_collection_namespaced_pod(namespace, label_selector=selector, grace_period_seconds=seconds)
        except ApiException as exc:
            if exc.status != 404:
                return Stop(False, f"deleting the pods of Job {namespace}/{job} failed: {api_message(exc)}")
    try:
        gone = wait_gone(core, batch, namespace, job, selector, confirm_within)
    except ApiException as exc:
        return Stop(False, f"Job {namespace}/{job} deleted, but the cluster could not confirm it: {api_message(exc)}")
    if not gone:
        return Stop(False, f"deleted Job {namespace}/{job} ({propagation}, grace {seconds}s); "
                    f"it or its pods were still present {confirm_within:g}s later")
    if not existed:
        return Stop(True, f"Job {namespace}/{job} was already gone")
    return Stop(True, f"deleted Job {namespace}/{job} ({propagation}, grace {seconds}s); its pods are gone")


def wait_gone(core: Any, batch: Any, namespace: str, job: str, selector: str | None, within: float) -> bool:
    """Whether Job ``namespace/job`` and its pods (``selector``) are gone within ``within``
    seconds. Raises the client's ApiException when the cluster answers with an error."""
    from kubernetes.client import ApiException

    deadline = time.monotonic() + within
    while True:
        pods = core.list_namespaced_pod(namespace, label_selector=selector).items if selector else []
        try:
            batch.read_namespaced_job(job, namespace)
            job_gone = False
        except ApiException as exc:
            if exc.status != 404:
                raise
            job_gone = True
        if job_gone and not pods:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)


def sweep_clusters(is_active: Callable[[str], bool]) -> list[str]:
    """``sweep`` over every known cluster (see ``configured_clusters``)."""
    removed: list[str] = []
    for kubeconfig, context, in_cluster in configured_clusters():
        api = connect(kubeconfig, context, in_cluster)
        try:
            removed += sweep_cluster(api, is_active)
        finally:
            api.close()
    return removed


def sweep_cluster(api: Any, is_active: Callable[[str], bool]) -> list[str]:
    """Delete runwright's Jobs (with their pods), stray pods and Secrets whose execution (the
    annotation ``runwright.io/execution``) is not active. Objects already being deleted are
    left to finish. Raises RunnerError when the cluster does not answer."""
    from kubernetes import client
    from kubernetes.client import ApiException

    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    removed: list[str] = []
    try:
        jobs = batch.list_job_for_all_namespaces(label_selector=MANAGED_SELECTOR, _request_timeout=30).items
        pods = core.list_pod_for_all_namespaces(label_selector=MANAGED_SELECTOR, _request_timeout=30).items
        secrets = core.list_secret_for_all_namespaces(label_selector=MANAGED_SELECTOR, _request_timeout=30).items
    except ApiException as exc:
        raise RunnerError(f"the sweep could not list runwright's Jobs: {api_message(exc)}") from None
    except Exception as exc:
        raise RunnerError(f"the sweep could not reach the cluster: {exc}") from None
    background = client.V1DeleteOptions(propagation_policy="Background", grace_period_seconds=0)

    def orphaned(obj: Any) -> bool:
        if obj.metadata.deletion_timestamp is not None:
            return False
        owner = (obj.metadata.annotations or {}).get(ANNOTATION_EXECUTION)
        return isinstance(owner, str) and bool(owner) and not is_active(owner)

    def delete(kind: str, call: Callable[..., Any], obj: Any) -> None:
        try:
            call(obj.metadata.name, obj.metadata.namespace, body=background)
        except ApiException as exc:
            if exc.status != 404:
                raise RunnerError(f"the sweep could not delete {kind} {obj.metadata.namespace}/"
                                  f"{obj.metadata.name}: {api_message(exc)}") from None
            return
        removed.append(f"{kind} {obj.metadata.namespace}/{obj.metadata.name}")

    for job in jobs:
        if orphaned(job):
            delete("Job", batch.delete_namespaced_job, job)
    for pod in pods:  # the Jobs' pods, and pods whose Job is gone
        if orphaned(pod):
            delete("pod", core.delete_namespaced_pod, pod)
    for secret in secrets:
        if orphaned(secret):
            delete("Secret", core.delete_namespaced_secret, secret)
    return removed


__all__ = ["delete_run", "sweep_cluster", "sweep_clusters"]
