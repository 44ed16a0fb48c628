"""The runner contract suite (runwright.runners.testing) on KubernetesRunner, on the real local
cluster: a quick Job, timeout and cancel in each phase while a step is stuck, failures in each
phase, reports from threads, the sweep after a worker's SIGKILL, stop by handle, and resume of a
Job a killed worker started. After each test no Job, pod or Secret of runwright remains."""

from __future__ import annotations

from typing import Any

import pytest

from runwright.runners import RunSpec
from runwright.runners.kubernetes import KubernetesRunner
from runwright.runners.testing import RunnerCase, RunnerContract
from tests.infra.k8s_cluster import BUSYBOX, LocalCluster

WORK: dict[str, list[str]] = {
    "quick": ["sh", "-c", "echo hello-contract"],
    "long": ["sh", "-c", "echo started; exec sleep 300"],
    "resumable": ["sh", "-c", "echo first; sleep 3; echo last; exit 3"],
}
_where: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _cluster(k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    _where.update(kubeconfig=k8s_cluster.kubeconfig, context=k8s_cluster.context, namespace=k8s_namespace)


def k8s_spec(kind: str, **overrides: Any) -> RunSpec:
    options: dict[str, Any] = {"image": BUSYBOX, "image_pull_policy": "Never", **_where}
    if kind == "long":  # the runner's own deadline is tested, not Kubernetes' (tested elsewhere)
        options["active_deadline_seconds"] = 600
    return RunSpec(WORK[kind], runner="kubernetes", options=options, **overrides)


class TestKubernetesRunnerContract(RunnerContract):
    case = RunnerCase(KubernetesRunner, k8s_spec, quick_output=b"hello-contract\n", timeout=4.0,
                      hang=90.0)  # a stop deletes the Job and waits for its pod: slow on a loaded cluster
