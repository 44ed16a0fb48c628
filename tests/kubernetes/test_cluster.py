"""The local cluster itself: it runs Jobs (the smoke test of tests/infra/k8s), its start is
idempotent, and its containerd does not collide with the Docker engine's."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from tests.infra.k8s_cluster import BUSYBOX, SCRIPTS, LocalCluster, make_namespace, state_dir


def _job(name: str, script: str) -> Any:
    from kubernetes import client

    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(backoff_limit=0, template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
            restart_policy="Never", termination_grace_period_seconds=1,
            containers=[client.V1Container(name="main", image=BUSYBOX, image_pull_policy="Never",
                                           command=["/bin/sh", "-c", script])]))),
    )


def test_cluster_runs_jobs_with_logs_and_exit_codes(k8s_api: Any, k8s_namespace: str) -> None:
    from kubernetes import client, watch

    core, batch = client.CoreV1Api(k8s_api), client.BatchV1Api(k8s_api)
    suffix = uuid.uuid4().hex[:6]
    jobs = {f"ok-{suffix}": "echo hello; echo line2", f"fail-{suffix}": "echo about to fail >&2; exit 42"}
    for name, script in jobs.items():
        batch.create_namespaced_job(k8s_namespace, _job(name, script))
    done: dict[str, tuple[str, int]] = {}
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_pod, k8s_namespace, timeout_seconds=120):
        pod = ev["object"]
        job = (pod.metadata.labels or {}).get("job-name")
        cs = (pod.status.container_statuses or [None])[0]
        if job in jobs and cs is not None and cs.state.terminated is not None:
            done[job] = (pod.metadata.name, cs.state.terminated.exit_code)
        if len(done) == len(jobs):
            w.stop()
    try:
        assert {job: code for job, (_, code) in done.items()} == {f"ok-{suffix}": 0, f"fail-{suffix}": 42}
        assert core.read_namespaced_pod_log(done[f"ok-{suffix}"][0], k8s_namespace) == "hello\nline2\n"
        assert core.read_namespaced_pod_log(done[f"fail-{suffix}"][0], k8s_namespace) == "about to fail\n"
    finally:
        for name in jobs:
            batch.delete_namespaced_job(name, k8s_namespace, propagation_policy="Foreground")


def test_start_is_idempotent_while_the_cluster_runs(k8s_cluster: LocalCluster) -> None:
    pids = {p.name: p.read_text() for p in state_dir().glob("*.pid")}
    t0 = time.monotonic()
    out = subprocess.run(["bash", str(SCRIPTS / "start.sh")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "already running" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == k8s_cluster.kubeconfig
    assert {p.name: p.read_text() for p in state_dir().glob("*.pid")} == pids  # nothing restarted
    assert time.monotonic() - t0 < 60


def _mounts_under(path: str) -> list[str]:
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[1].startswith(path + "/")]


def test_start_after_the_cluster_died_cleans_what_it_left(k8s_api: Any, k8s_namespace: str) -> None:
    """Every component SIGKILLed at once (as when its machine's processes are gone) leaves the
    kubelet's tmpfs mounts of the pods that ran; the next start cleans them and comes up (it
    failed on `rm: cannot remove .../kubelet/root: Device or resource busy`). The session's
    namespace is made again afterwards: a start begins with fresh cluster state."""
    from kubernetes import client

    core = client.CoreV1Api(k8s_api)
    name = f"mounted-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_pod(k8s_namespace, client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(restart_policy="Never", termination_grace_period_seconds=0, containers=[
            client.V1Container(name="main", image=BUSYBOX, image_pull_policy="Never", command=["sleep", "3600"])])))
    deadline = time.monotonic() + 120
    while core.read_namespaced_pod(name, k8s_namespace).status.phase != "Running":
        assert time.monotonic() < deadline, "the pod did not start"
        time.sleep(0.2)
    uid = core.read_namespaced_pod(name, k8s_namespace).metadata.uid
    root = str(state_dir() / "kubelet" / "root")
    assert [m for m in _mounts_under(root) if uid in m], "the pod's ServiceAccount token volume is a tmpfs there"
    pids = {p.name: int(p.read_text()) for p in state_dir().glob("*.pid")}
    assert set(pids) == {f"{c}.pid" for c in ("etcd", "containerd", "apiserver", "kcm", "sched", "kubelet")}
    for pid in pids.values():
        os.kill(pid, signal.SIGKILL)
    for pid in pids.values():
        while Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]:
            time.sleep(0.05)
    try:
        out = subprocess.run(["bash", str(SCRIPTS / "start.sh")], capture_output=True, text=True, timeout=240)
        assert out.returncode == 0, out.stderr
        assert "a dead cluster's state is left" in out.stdout
        assert [m for m in _mounts_under(root) if uid in m] == []
        assert {p.name: int(p.read_text()) for p in state_dir().glob("*.pid")}.keys() == pids.keys()
    finally:
        # the session's namespace again (fresh etcd), ready for pods as the fixture made it
        make_namespace(core, k8s_namespace)


def test_the_clusters_containerd_is_not_dockers(k8s_cluster: LocalCluster) -> None:
    sock = state_dir() / "containerd" / "containerd.sock"
    assert sock.is_socket()
    namespaces = subprocess.run(["ctr", "-a", str(sock), "namespaces", "ls", "-q"], capture_output=True, text=True,
                                check=True).stdout.split()
    assert "moby" not in namespaces  # Docker's containers live in its own containerd, not here
    assert "k8s.io" in namespaces
    if shutil.which("docker") and subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        # the Docker engine still answers and still uses its own containerd
        out = subprocess.run(["docker", "info", "--format", "{{.ContainerdCommit.ID}}"], capture_output=True, text=True)
        assert out.returncode == 0
