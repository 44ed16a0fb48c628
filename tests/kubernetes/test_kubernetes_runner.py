"""KubernetesRunner on the real local cluster: success, exit codes, deadline, a missing image,
cancel mid-run, secrets through a Secret, live metadata; nothing is left behind (conftest)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from runwright.runners import CancelToken, MemoryRecorder, RunSpec, Status, get_runner, run
from runwright.runners.kubernetes_api import MANAGED_SELECTOR, label_value
from tests.infra.k8s_cluster import BUSYBOX, LocalCluster
from tests.infra.k8s_cluster import MANAGED_SELECTOR as FIXTURE_SELECTOR


def kspec(cluster: LocalCluster, namespace: str, command: list[str] | str, **kwargs: Any) -> RunSpec:
    options = {"image": BUSYBOX, "image_pull_policy": "Never", "kubeconfig": cluster.kubeconfig,
               "context": cluster.context, "namespace": namespace, **kwargs.pop("options", {})}
    kwargs.setdefault("grace_period", 1)
    return RunSpec(command, runner="kubernetes", options=options, shell=isinstance(command, str), **kwargs)


def wait_for(predicate: Any, what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {timeout:g}s")


def test_the_fixture_checks_the_runners_own_label() -> None:
    assert MANAGED_SELECTOR == FIXTURE_SELECTOR


def test_success_streams_the_log_and_reports_pod_and_node(k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    rec = MemoryRecorder()
    result = run(kspec(k8s_cluster, k8s_namespace, "echo hello; printf 'no newline'"), rec)
    assert result.status == Status.SUCCESS, result.error
    assert result.exit_code == 0
    assert rec.stdout == b"hello\nno newline"
    assert result.metadata["node"] == "localhost"
    assert result.metadata["pod"].startswith(result.metadata["job_name"])
    assert result.metadata["namespace"] == k8s_namespace


def test_exit_code_42_is_failed_with_the_code(k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    rec = MemoryRecorder()
    result = run(kspec(k8s_cluster, k8s_namespace, "echo before failing; echo to-stderr >&2; exit 42"), rec)
    assert result.status == Status.FAILED
    assert result.exit_code == 42
    assert "42" in (result.error or "")
    # the v1.20 log API interleaves stdout and stderr on one stream, in no guaranteed order
    assert sorted(rec.stdout.splitlines()) == [b"before failing", b"to-stderr"]
    assert result.metadata["attempts"] == 1


def test_env_workdir_and_labels_reach_the_pod(k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    rec = MemoryRecorder()
    spec = kspec(k8s_cluster, k8s_namespace, ["/bin/sh", "-c", 'echo "$GREETING from $(pwd)"'],
                 env={"GREETING": "hi"}, cwd="/tmp", options={"labels": {"team": "platform"}})
    result = run(spec, rec)
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == b"hi from /tmp\n"


def test_active_deadline_exceeded_is_a_timeout(k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    rec = MemoryRecorder()
    t0 = time.monotonic()
    result = run(kspec(k8s_cluster, k8s_namespace, "echo started; sleep 300",
                       options={"active_deadline_seconds": 3}), rec)
    assert result.status == Status.TIMEOUT, result.error
    assert "DeadlineExceeded" in (result.error or "")
    assert "activeDeadlineSeconds (3s)" in (result.error or "")
    assert rec.stdout == b"started\n"
    assert time.monotonic() - t0 < 120  # ended by Kubernetes, long before the command would


def test_the_runners_own_timeout_deletes_the_job(k8s_cluster: LocalCluster, k8s_namespace: str,
                                                k8s_api: Any) -> None:
    from kubernetes import client

    batch, core = client.BatchV1Api(k8s_api), client.CoreV1Api(k8s_api)
    rec = MemoryRecorder()
    # activeDeadlineSeconds far off: the run's own timeout ends it, not Kubernetes
    result = run(kspec(k8s_cluster, k8s_namespace, "echo running; sleep 300", timeout=4,
                       options={"active_deadline_seconds": 600}), rec)
    assert result.status == Status.TIMEOUT, result.error
    assert "timed out after 4s" in (result.error or "") and "pods are gone" in (result.error or ""), result.error
    assert rec.stdout == b"running\n"  # the pod ran: there was a pod to delete
    selector = f"runwright.io/run-id={rec.handles[0]['run_id']}"
    # Gone when the run returns, not only being deleted: no Job of that name, no pod of the run.
    jobs = batch.list_namespaced_job(k8s_namespace, field_selector=f"metadata.name={rec.handles[0]['job']}").items
    assert jobs == [], [j.metadata for j in jobs]
    assert core.list_namespaced_pod(k8s_namespace, label_selector=selector).items == []


def test_a_missing_image_is_an_error_within_seconds(k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    t0 = time.monotonic()
    result = run(kspec(k8s_cluster, k8s_namespace, ["true"], timeout=240,
                       options={"image": "localhost/no-such-image:1"}))
    elapsed = time.monotonic() - t0
    assert result.status == Status.ERROR
    assert "ErrImageNeverPull" in (result.error or ""), result.error
    assert "localhost/no-such-image:1" in (result.error or "")
    assert elapsed < 60, f"found after {elapsed:.1f}s; the deadline was 240s"


def test_an_invalid_image_name_is_an_error_within_seconds(k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    result = run(kspec(k8s_cluster, k8s_namespace, ["true"], timeout=240, options={"image": "localhost/UPPER:1"}))
    assert result.status == Status.ERROR, result.error
    assert "the container cannot start: InvalidImageName" in (result.error or ""), result.error
    assert "repository name must be lowercase" in (result.error or ""), result.error
    # A pod whose container never started is deleted at once, and confirmed gone (with the
    # grace period the kubelet took over 30 s, and the stop was left to the sweep).
    assert result.metadata["stop_confirmed"] is True and "cleanup_error" not in result.metadata, result.metadata


def test_backoff_limit_exceeded_reports_both_attempts(k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    rec = MemoryRecorder()
    result = run(kspec(k8s_cluster, k8s_namespace, "echo attempt on $(hostname); exit 7",
                       options={"backoff_limit": 1}, timeout=240), rec)
    assert result.status == Status.FAILED, result.error
    assert result.exit_code == 7
    assert result.metadata["attempts"] == 2
    assert "the Job failed after 2 attempts (backoffLimit 1, BackoffLimitExceeded)" in (result.error or ""), result.error
    assert "exit code 7" in (result.error or ""), result.error
    # both pods' logs, one after the other, and a terminated event of each
    assert rec.stdout.count(b"attempt on ") == 2, rec.stdout
    ended = {d["pod"]: d["exit_code"] for k, d in rec.events() if k == "kubernetes.pod" and d.get("container") == "terminated"}
    assert len(ended) == 2 and set(ended.values()) == {7}, ended


def test_unschedulable_by_a_node_selector_is_an_error_with_the_schedulers_message(
        k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    result = run(kspec(k8s_cluster, k8s_namespace, ["true"], timeout=120,
                       options={"node_selector": {"runwright.io/no-such-node": "x"}, "unschedulable_timeout": 3}))
    assert result.status == Status.ERROR, result.error
    assert "could not be scheduled within 3s" in (result.error or ""), result.error
    # the scheduler's own words (v1.20 says it of a nodeSelector as of node affinity)
    assert "0/1 nodes are available: 1 node(s) didn't match" in (result.error or ""), result.error


def test_volumes_service_account_tolerations_and_annotations_reach_the_pod(
        k8s_cluster: LocalCluster, k8s_namespace: str, k8s_api: Any) -> None:
    from kubernetes import client

    core = client.CoreV1Api(k8s_api)
    name = "rw-volume-config"
    core.create_namespaced_config_map(k8s_namespace, client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name=name), data={"greeting.txt": "from a ConfigMap"}))
    core.create_namespaced_service_account(k8s_namespace, client.V1ServiceAccount(
        metadata=client.V1ObjectMeta(name="rw-runner")))
    seen: dict[str, Any] = {}

    class Spy(MemoryRecorder):
        def output(self, stream, data):  # type: ignore[no-untyped-def]
            if not seen and stream == "stdout":  # the pod runs: read it from the cluster
                (pod,) = core.list_namespaced_pod(k8s_namespace, label_selector=MANAGED_SELECTOR).items
                seen["pod"] = pod
            super().output(stream, data)

    try:
        rec = Spy()
        spec = kspec(k8s_cluster, k8s_namespace,
                     "cat /config/greeting.txt; echo; echo scratch > /scratch/f && cat /scratch/f; "
                     "cat /var/run/secrets/kubernetes.io/serviceaccount/namespace; echo",
                     options={"volumes": [{"name": "config", "mount_path": "/config", "config_map": name,
                                           "read_only": True},
                                          {"name": "scratch", "mount_path": "/scratch", "empty_dir": True}],
                              "service_account": "rw-runner", "annotations": {"team.example/owner": "platform"},
                              "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ci",
                                               "effect": "NoSchedule"}]}, timeout=120)
        result = run(spec, rec)
        assert result.status == Status.SUCCESS, result.error
        assert rec.stdout == f"from a ConfigMap\nscratch\n{k8s_namespace}\n".encode()
        pod = seen["pod"]
        assert pod.spec.service_account_name == "rw-runner"
        assert pod.metadata.annotations["team.example/owner"] == "platform"
        assert any((t.key, t.operator, t.value, t.effect) == ("dedicated", "Equal", "ci", "NoSchedule")
                   for t in pod.spec.tolerations)
        volumes = {v.name: v for v in pod.spec.volumes}
        assert volumes["config"].config_map.name == name and volumes["scratch"].empty_dir is not None
        mounts = {m.name: m for m in pod.spec.containers[0].volume_mounts}
        assert mounts["config"].mount_path == "/config" and mounts["config"].read_only is True
    finally:
        core.delete_namespaced_config_map(name, k8s_namespace)
        core.delete_namespaced_service_account("rw-runner", k8s_namespace)


def test_cancel_mid_run_deletes_the_job_and_confirms_the_pod_gone(
        k8s_cluster: LocalCluster, k8s_namespace: str, k8s_api: Any) -> None:
    from kubernetes import client

    core = client.CoreV1Api(k8s_api)
    rec = MemoryRecorder()
    token = CancelToken()
    spec = kspec(k8s_cluster, k8s_namespace, "echo running; sleep 300")
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(run(spec, rec, token)))
    worker.start()
    wait_for(lambda: b"running\n" in rec.stdout, "the first line of output")
    pods = core.list_namespaced_pod(k8s_namespace, label_selector=MANAGED_SELECTOR).items
    assert len(pods) == 1
    token.cancel("user pressed stop")
    worker.join(120)
    assert not worker.is_alive()
    result = results[0]
    assert result.status == Status.CANCELLED
    assert "user pressed stop" in (result.error or "")
    assert "pods are gone" in (result.error or ""), result.error
    assert core.list_namespaced_pod(k8s_namespace, label_selector=MANAGED_SELECTOR).items == []


def test_secret_env_goes_through_a_secret_owned_by_the_job(
        k8s_cluster: LocalCluster, k8s_namespace: str, k8s_api: Any) -> None:
    from kubernetes import client

    batch, core = client.BatchV1Api(k8s_api), client.CoreV1Api(k8s_api)
    seen: dict[str, Any] = {}

    class Spy(MemoryRecorder):
        def output(self, stream, data):  # type: ignore[no-untyped-def]
            if not seen and stream == "stdout":  # the Job runs: look at what is stored in the cluster
                jobs = batch.list_namespaced_job(k8s_namespace, label_selector=MANAGED_SELECTOR).items
                secrets = core.list_namespaced_secret(k8s_namespace, label_selector=MANAGED_SELECTOR).items
                seen.update(job=jobs[0], secrets=secrets)
            super().output(stream, data)

    rec = Spy()
    token = "s3cr3t-value-1234"
    spec = kspec(k8s_cluster, k8s_namespace, 'echo "token is $API_TOKEN"; echo "plain is $PLAIN"',
                 env={"API_TOKEN": token, "PLAIN": "visible"})
    result = run(spec, rec)
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == b"token is ***\nplain is visible\n"
    job = seen["job"]
    assert token not in str(job.to_dict())
    env = {e.name: e for e in job.spec.template.spec.containers[0].env}
    assert env["PLAIN"].value == "visible"
    assert env["API_TOKEN"].value is None
    assert env["API_TOKEN"].value_from.secret_key_ref.key == "API_TOKEN"
    (secret,) = seen["secrets"]
    assert env["API_TOKEN"].value_from.secret_key_ref.name == secret.metadata.name
    (owner,) = secret.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == ("Job", job.metadata.name, job.metadata.uid)
    assert token not in str(result.metadata)


def test_labels_carry_the_run_and_execution_ids(k8s_cluster: LocalCluster, k8s_namespace: str,
                                                k8s_api: Any) -> None:
    from kubernetes import client

    batch = client.BatchV1Api(k8s_api)
    labels: dict[str, str] = {}

    class Spy(MemoryRecorder):
        def output(self, stream, data):  # type: ignore[no-untyped-def]
            if not labels:
                job = batch.list_namespaced_job(k8s_namespace, label_selector=MANAGED_SELECTOR).items[0]
                labels.update(job.metadata.labels)
                labels.update({"annotation": job.metadata.annotations["runwright.io/execution"]})
            super().output(stream, data)

    runner = get_runner("kubernetes")
    result = runner.run(kspec(k8s_cluster, k8s_namespace, "echo x"), Spy(), run_id="ab" * 16,
                        execution_id="default:1234")
    assert result.status == Status.SUCCESS, result.error
    assert labels["runwright.io/run-id"] == "ab" * 16
    assert labels["runwright.io/execution-id"] == label_value("default:1234")
    assert labels["annotation"] == "default:1234"
    assert labels["app.kubernetes.io/managed-by"] == "runwright"


@pytest.mark.parametrize(("options", "field"), [
    ({"image": ""}, "options.image"),
    ({"context": ""}, "options.context"),
    ({"image_pull_policy": "Sometimes"}, "options.image_pull_policy"),
    ({"volumes": [{"name": "v"}]}, "options.volumes[0]"),
])
def test_bad_options_are_named(k8s_cluster: LocalCluster, k8s_namespace: str, options: dict[str, Any],
                               field: str) -> None:
    result = run(kspec(k8s_cluster, k8s_namespace, ["true"], options=options))
    assert result.status == Status.ERROR
    assert (result.error or "").startswith(f"invalid spec: {field}:"), result.error


def test_an_unknown_context_is_one_clear_error(k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    result = run(kspec(k8s_cluster, k8s_namespace, ["true"], options={"context": "nope"}))
    assert result.status == Status.ERROR
    assert "context 'nope'" in (result.error or ""), result.error


def test_oom_killed_is_failed_and_said_so(k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    rec = MemoryRecorder()
    # dd's 64 MiB block buffer is filled by the read: far past the 16 MiB limit.
    spec = kspec(k8s_cluster, k8s_namespace, "echo allocating; dd if=/dev/zero of=/dev/null bs=64M count=4",
                 options={"resources": {"limits": {"memory": "16Mi"}, "requests": {"memory": "16Mi"}}})
    result = run(spec, rec)
    assert result.status == Status.FAILED, result.error
    assert "OOMKilled" in (result.error or "") and "16Mi" in (result.error or ""), result.error
    assert result.metadata["oom_killed"] is True
    assert result.exit_code == 137
    assert rec.stdout.startswith(b"allocating\n")


def test_a_pod_deleted_from_outside_is_failed_and_said_so(
        k8s_cluster: LocalCluster, k8s_namespace: str, k8s_api: Any) -> None:
    from kubernetes import client

    core = client.CoreV1Api(k8s_api)
    rec = MemoryRecorder()
    spec = kspec(k8s_cluster, k8s_namespace, "echo running; sleep 300", timeout=240)
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(run(spec, rec)))
    worker.start()
    wait_for(lambda: b"running\n" in rec.stdout, "the first line of output")
    (pod,) = core.list_namespaced_pod(k8s_namespace, label_selector=MANAGED_SELECTOR).items
    core.delete_namespaced_pod(pod.metadata.name, k8s_namespace, grace_period_seconds=1)
    worker.join(180)
    assert not worker.is_alive()
    result = results[0]
    assert result.status == Status.FAILED, result.error
    assert f"pod {pod.metadata.name} was deleted from outside the run" in (result.error or ""), result.error
    assert result.metadata["pod_gone"] is True


def test_pod_phases_are_events_and_pod_and_node_metadata_come_first(
        k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    rec = MemoryRecorder()
    result = run(kspec(k8s_cluster, k8s_namespace, "echo hi; exit 3"), rec)
    assert result.status == Status.FAILED and result.exit_code == 3
    pods = [data for kind, data in rec.events() if kind == "kubernetes.pod"]
    assert pods and {p["pod"] for p in pods} == {result.metadata["pod"]}
    assert pods[-1]["container"] == "terminated" and pods[-1]["exit_code"] == 3 and pods[-1]["phase"] == "Failed"
    kinds = rec.kinds()
    first_output = next(i for i, (k, v) in enumerate(rec.calls) if k == "output" and v[0] == "stdout")
    pod_meta = next(i for i, (k, v) in enumerate(rec.calls) if k == "metadata" and "pod" in v)
    assert kinds.index("handle") < pod_meta < first_output
    assert rec.handles[0]["kind"] == "Job" and rec.handles[0]["namespace"] == k8s_namespace
