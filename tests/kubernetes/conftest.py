"""Fixtures of the Kubernetes tests: a real local cluster (started when needed), an API client
bound to its kubeconfig and context, a namespace of the session, and the check that no Job, pod
or Secret of runwright is left after a test."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.infra.k8s_cluster import MANAGED_SELECTOR, InfraError, LocalCluster, ensure_cluster, make_namespace, stop_cluster

#: How long objects already being deleted (deletionTimestamp set) may take to go.
DELETION_WAIT = 60.0


@pytest.fixture(scope="session")
def k8s_cluster() -> Iterator[LocalCluster]:
    """The local cluster: ``.kubeconfig`` (path of an admin token kubeconfig) and ``.context``.

    Started when it is not running (about 25 s) and stopped at the end of the session if this
    session started it, unless RUNWRIGHT_K8S_KEEP=1. Fails the tests with the reason when the
    cluster cannot start (binaries not built, not root, a port taken, a component exiting).
    """
    try:
        cluster, started = ensure_cluster()
    except InfraError as exc:
        pytest.fail(str(exc), pytrace=False)
    # The sweep's settings (as a worker's): the cluster it looks at.
    saved = {k: os.environ.get(k) for k in ("RUNWRIGHT_KUBECONFIG", "RUNWRIGHT_KUBE_CONTEXT")}
    os.environ.update(RUNWRIGHT_KUBECONFIG=cluster.kubeconfig, RUNWRIGHT_KUBE_CONTEXT=cluster.context)
    yield cluster
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if started and os.environ.get("RUNWRIGHT_K8S_KEEP") != "1":
        stop_cluster()


@pytest.fixture(scope="session")
def k8s_api(k8s_cluster: LocalCluster) -> Iterator[Any]:
    """A ``kubernetes.client.ApiClient`` for the cluster's kubeconfig and context (never ambient)."""
    from kubernetes import config

    api = config.new_client_from_config(config_file=k8s_cluster.kubeconfig, context=k8s_cluster.context)
    yield api
    api.close()


@pytest.fixture(scope="session")
def k8s_namespace(k8s_api: Any) -> Iterator[str]:
    """A fresh namespace for the session, ready for pods (its default ServiceAccount exists)."""
    from kubernetes import client

    core = client.CoreV1Api(k8s_api)
    name = f"rw-test-{uuid.uuid4().hex[:8]}"
    make_namespace(core, name)
    yield name
    core.delete_namespace(name)


def _leftovers(k8s_api: Any) -> list[tuple[str, Any]]:
    from kubernetes import client

    batch, core = client.BatchV1Api(k8s_api), client.CoreV1Api(k8s_api)
    found: list[tuple[str, Any]] = []
    for kind, lister in (("Job", batch.list_job_for_all_namespaces), ("Pod", core.list_pod_for_all_namespaces),
                         ("Secret", core.list_secret_for_all_namespaces)):
        found += [(kind, item) for item in lister(label_selector=MANAGED_SELECTOR).items]
    return found


def _force_delete(k8s_api: Any, kind: str, obj: Any) -> None:
    from kubernetes import client

    ns, name = obj.metadata.namespace, obj.metadata.name
    opts = client.V1DeleteOptions(grace_period_seconds=0, propagation_policy="Background")
    try:
        if kind == "Job":
            client.BatchV1Api(k8s_api).delete_namespaced_job(name, ns, body=opts)
        elif kind == "Pod":
            client.CoreV1Api(k8s_api).delete_namespaced_pod(name, ns, body=opts)
        else:
            client.CoreV1Api(k8s_api).delete_namespaced_secret(name, ns, body=opts)
    except client.ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(autouse=True)
def no_runwright_objects_left(k8s_api: Any) -> Iterator[None]:
    """After every Kubernetes test, no Job, pod or Secret labelled as runwright's remains.

    Objects already being deleted get DELETION_WAIT seconds to go; anything else left fails the
    test (and is removed, so the next test starts clean).
    """
    yield
    deadline = time.monotonic() + DELETION_WAIT
    while True:
        left = _leftovers(k8s_api)
        not_deleting = [(k, o) for k, o in left if o.metadata.deletion_timestamp is None]
        if not left or not_deleting or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for kind, obj in left:
        _force_delete(k8s_api, kind, obj)
    names = [f"{kind} {o.metadata.namespace}/{o.metadata.name}" for kind, o in left]
    assert names == [], f"runwright's Kubernetes objects were left behind: {', '.join(names)}"
