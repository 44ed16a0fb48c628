"""KubernetesRunner on paths the local single-node cluster cannot produce on demand: a pod
Unschedulable on a multi-node cluster, the API answering 5xx (once, and for good), a pod evicted
by the kubelet under node pressure. The runner is given an API whose answers are built from the
kubernetes client's own model classes (V1Job, V1Pod, V1Status, ...) and whose watches are read
by the client's own ``kubernetes.watch.Watch``; everything else is the real runner."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from kubernetes import client
from kubernetes.client import ApiException

from runwright.runners import MemoryRecorder, RunSpec, Status
from runwright.runners.context import RunContext
from runwright.runners.kubernetes import KubernetesRunner, _flag

SERIALIZER = client.ApiClient()


def status_error(code: int, reason: str, message: str) -> ApiException:
    """An ApiException as the client raises it, its body a V1Status."""
    exc = ApiException(status=code, reason=reason)
    exc.body = json.dumps(SERIALIZER.sanitize_for_serialization(
        client.V1Status(kind="Status", api_version="v1", status="Failure", message=message, reason=reason, code=code)))
    return exc


class Stream:
    """A streamed HTTP response: the watch's JSON lines, or a log."""

    def __init__(self, lines: list[bytes], pause: float = 0.0) -> None:
        self.lines, self.pause, self.status = lines, pause, 200

    def stream(self, amt: int | None = None, decode_content: bool = False) -> Iterator[bytes]:
        yield from self.lines
        time.sleep(self.pause)  # a watch the server ends at its timeout; nothing happened meanwhile

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class FakeCluster:
    """One namespace, one Job at a time; ``scenario`` says what its pod does."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.lock = threading.Lock()
        self.jobs: dict[str, client.V1Job] = {}
        self.pods: dict[str, client.V1Pod] = {}
        self.calls: list[str] = []
        self.failures = {"list_namespaced_pod": 2} if scenario == "transient-5xx" else {}

    # -- what the runner calls ---------------------------------------------------------------
    def close(self) -> None:
        pass

    def _fail(self, name: str) -> None:
        self.calls.append(name)
        if self.scenario == "create-5xx" and name == "create_namespaced_job":
            raise status_error(500, "InternalError", "etcdserver: request timed out")
        if self.scenario == "persistent-5xx" and name == "list_namespaced_pod":
            raise status_error(503, "ServiceUnavailable", "the server is currently unable to handle the request")
        if self.failures.get(name):
            self.failures[name] -= 1
            raise status_error(503, "ServiceUnavailable", "the server is currently unable to handle the request")

    def create_namespaced_job(self, namespace: str, body: client.V1Job) -> client.V1Job:
        self._fail("create_namespaced_job")
        body.metadata.uid = "uid-1"
        body.metadata.namespace = namespace
        body.status = client.V1JobStatus(active=1)
        self.jobs[body.metadata.name] = body
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(name=f"{body.metadata.name}-abcde", namespace=namespace,
                                         labels=dict(body.spec.template.metadata.labels),
                                         creation_timestamp=datetime.now(UTC), resource_version="1"),
            spec=body.spec.template.spec, status=client.V1PodStatus(phase="Pending"))
        if self.scenario == "unschedulable":
            pod.status.conditions = [client.V1PodCondition(
                type="PodScheduled", status="False", reason="Unschedulable",
                message="0/3 nodes are available: 3 Insufficient cpu.")]
        else:
            pod.spec.node_name = "node-b"
            pod.status = client.V1PodStatus(phase="Running", container_statuses=[client.V1ContainerStatus(
                name="main", image="img", image_id="", ready=True, restart_count=0,
                state=client.V1ContainerState(running=client.V1ContainerStateRunning(started_at=datetime.now(UTC))))])
        self.pods[pod.metadata.name] = pod
        return body

    def create_namespaced_secret(self, namespace: str, body: Any) -> Any:
        return body

    def read_namespaced_job(self, name: str, namespace: str, **kw: Any) -> client.V1Job:
        self._fail("read_namespaced_job")
        if name not in self.jobs:
            raise status_error(404, "NotFound", f'jobs.batch "{name}" not found')
        return self.jobs[name]

    def list_namespaced_job(self, namespace: str, **kw: Any) -> client.V1JobList:
        self._fail("list_namespaced_job")
        items = [j for j in self.jobs.values() if kw.get("field_selector", "").endswith(j.metadata.name)]
        if kw.get("watch"):
            return Stream([], pause=0.1)  # type: ignore[return-value]
        return client.V1JobList(items=items, metadata=client.V1ListMeta(resource_version="1"))

    def patch_namespaced_job(self, name: str, namespace: str, body: Any) -> Any:
        return self.jobs.get(name)

    def delete_namespaced_job(self, name: str, namespace: str, body: Any = None) -> None:
        self.calls.append("delete_namespaced_job")
        if self.jobs.pop(name, None) is None:
            raise status_error(404, "NotFound", f'jobs.batch "{name}" not found')
        self.pods.clear()

    def list_namespaced_pod(self, namespace: str, **kw: Any) -> client.V1PodList:
        self._fail("list_namespaced_pod")
        if kw.get("watch"):
            return Stream([], pause=0.1)  # type: ignore[return-value]
        return client.V1PodList(items=list(self.pods.values()), metadata=client.V1ListMeta(resource_version="1"))

    def read_namespaced_pod(self, name: str, namespace: str) -> client.V1Pod:
        if name not in self.pods:
            raise status_error(404, "NotFound", f'pods "{name}" not found')
        return self.pods[name]

    def delete_collection_namespaced_pod(self, namespace: str, **kw: Any) -> None:
        self.pods.clear()

    def read_namespaced_pod_log(self, name: str, namespace: str, **kw: Any) -> Stream:
        self.calls.append("read_namespaced_pod_log")
        pod, job = self.pods[name], next(iter(self.jobs.values()))
        if self.scenario == "evicted":  # the kubelet evicts the pod while it runs
            pod.status = client.V1PodStatus(
                phase="Failed", reason="Evicted",
                message="The node was low on resource: memory. Container main was using 3Gi, which exceeds its request of 0.",
                container_statuses=[client.V1ContainerStatus(
                    name="main", image="img", image_id="", ready=False, restart_count=0,
                    state=client.V1ContainerState(terminated=client.V1ContainerStateTerminated(exit_code=137, reason="Error")))])
            job.status = client.V1JobStatus(failed=1, conditions=[client.V1JobCondition(
                type="Failed", status="True", reason="BackoffLimitExceeded",
                message="Job has reached the specified backoff limit")])
        else:
            pod.status.container_statuses[0].state = client.V1ContainerState(
                terminated=client.V1ContainerStateTerminated(exit_code=0, reason="Completed"))
            pod.status.phase = "Succeeded"
            job.status = client.V1JobStatus(succeeded=1, conditions=[client.V1JobCondition(type="Complete", status="True")])
        return Stream([b"2026-11-29T10:00:00.1Z working\n"])


def runner_on(cluster: FakeCluster) -> KubernetesRunner:
    class OnFake(KubernetesRunner):
        def _connect(self, ctx: RunContext, kubeconfig: str | None, context: str | None, in_cluster: bool) -> None:
            _flag(ctx)
            ctx.state["api"] = ctx.state["core"] = ctx.state["batch"] = cluster

    return OnFake()


def spec(**options: Any) -> RunSpec:
    return RunSpec(["work"], runner="kubernetes", grace_period=1, timeout=120,
                   options={"image": "img", "kubeconfig": "/nonexistent", "context": "fake", **options})


def test_unschedulable_past_the_wait_is_an_error_with_the_schedulers_message() -> None:
    cluster = FakeCluster("unschedulable")
    rec = MemoryRecorder()
    t0 = time.monotonic()
    result = runner_on(cluster).run(spec(unschedulable_timeout=1), rec)
    assert result.status == Status.ERROR
    assert "could not be scheduled within 1s: 0/3 nodes are available: 3 Insufficient cpu." in (result.error or "")
    assert time.monotonic() - t0 < 30
    assert "delete_namespaced_job" in cluster.calls and cluster.pods == {}
    assert any(d.get("reason") == "Unschedulable" for k, d in rec.events() if k == "kubernetes.pod")


def test_a_5xx_creating_the_job_is_an_error_with_the_apis_message() -> None:
    result = runner_on(FakeCluster("create-5xx")).run(spec())
    assert result.status == Status.ERROR
    assert result.error == ("the Job could not be created in namespace 'default': etcdserver: request timed out "
                            "(HTTP 500)")


def test_a_transient_5xx_while_following_is_retried() -> None:
    cluster = FakeCluster("transient-5xx")
    rec = MemoryRecorder()
    result = runner_on(cluster).run(spec(), rec)
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == b"working\n"
    assert rec.system.count(b"the cluster's API failed while following the Job's pods") == 2
    assert b"(HTTP 503)); retrying" in rec.system


def test_a_persistent_5xx_is_an_error_after_the_retries_and_the_job_is_removed() -> None:
    cluster = FakeCluster("persistent-5xx")
    result = runner_on(cluster).run(spec())
    assert result.status == Status.ERROR
    assert result.error is not None and result.error.startswith(
        "the cluster's API failed while following the Job's pods: the server is currently unable to handle the "
        "request (HTTP 503)")
    assert "delete_namespaced_job" in cluster.calls


def test_a_pod_evicted_by_the_kubelet_is_failed_and_said_so() -> None:
    rec = MemoryRecorder()
    result = runner_on(FakeCluster("evicted")).run(spec(), rec)
    assert result.status == Status.FAILED
    assert "was evicted by the kubelet: The node was low on resource: memory." in (result.error or ""), result.error
    assert "BackoffLimitExceeded" in (result.error or "")
    assert rec.stdout == b"working\n" and result.metadata["node"] == "node-b"
