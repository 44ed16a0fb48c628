"""A Job outlives its worker: a worker killed with SIGKILL mid-Job, and another process that
resumes the Job from the handle and the log cursor the dead worker stored as live metadata:
the rest of the log follows without repeating what was stored and without a gap; probe,
stop_handle and the sweep by label (settings RUNWRIGHT_KUBECONFIG/RUNWRIGHT_KUBE_CONTEXT)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from typing import Any

from runwright.runners import Liveness, MemoryRecorder, RunSpec, Status
from runwright.runners.kubernetes import KubernetesRunner
from tests.infra.k8s_cluster import BUSYBOX, LocalCluster

LINES = 40
#: Prints the handle, then each output batch and each cursor, as JSON lines, then is killed.
WORKER = r"""
import json, sys
from runwright.runners import NullReporter, RunSpec
from runwright.runners.kubernetes import KubernetesRunner

class Out(NullReporter):
    def handle(self, handle):
        print(json.dumps({"handle": handle}), flush=True)

    def output(self, stream, data):
        if stream == "stdout":
            print(json.dumps({"output": data.decode()}), flush=True)

    def metadata(self, values):
        if "log_cursor" in values:
            print(json.dumps({"metadata": values}), flush=True)

KubernetesRunner().run(RunSpec.from_dict(json.loads(sys.argv[1])), Out(), execution_id=sys.argv[2])
"""


def spec(cluster: LocalCluster, namespace: str) -> RunSpec:
    # Several lines per second, so lines share a second (sinceTime's granularity) with the cut.
    script = f"i=1; while [ $i -le {LINES} ]; do echo line-$i; echo line-$i-b; i=$((i+1)); sleep 0.1; done; exit 5"
    return RunSpec(["sh", "-c", script], runner="kubernetes", grace_period=1, timeout=300,
                   options={"image": BUSYBOX, "image_pull_policy": "Never", "kubeconfig": cluster.kubeconfig,
                            "context": cluster.context, "namespace": namespace})


def start_and_kill(run_spec: RunSpec, execution: str, after_lines: int) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """Run ``run_spec`` in a worker process, SIGKILL it once ``after_lines`` lines were stored;
    returns the handle, the log as stored (batches up to the last cursor) and the last cursor."""
    proc = subprocess.Popen([sys.executable, "-c", WORKER, json.dumps(run_spec.to_dict(redact=False)), execution],
                            stdout=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)))
    assert proc.stdout is not None
    handle: dict[str, Any] = {}
    stored, pending, cursor = "", "", {}
    try:
        for line in proc.stdout:
            msg = json.loads(line)
            if "handle" in msg:
                handle = msg["handle"]
            elif "output" in msg:
                pending += msg["output"]
            else:  # the cursor covers every batch delivered before it: those count as stored
                stored, pending, cursor = stored + pending, "", msg["metadata"]["log_cursor"]
                if stored.count("\n") >= after_lines:
                    break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert handle and cursor, "the worker reported no handle or no log cursor"
    return handle, stored, {"log_cursor": cursor}


def test_a_job_resumed_after_its_worker_was_killed_goes_on_without_repeat_or_gap(
        k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    run_spec = spec(k8s_cluster, k8s_namespace)
    execution = "test:recovery-1"
    handle, stored, metadata = start_and_kill(run_spec, execution, after_lines=11)
    assert KubernetesRunner.probe(handle) is Liveness.ALIVE, "the Job outlives its worker"
    rec = MemoryRecorder()
    result = KubernetesRunner().resume(run_spec, handle, rec, execution_id=execution, metadata=metadata)
    assert result.status == Status.FAILED and result.exit_code == 5, result.error
    expected = "".join(f"line-{i}\nline-{i}-b\n" for i in range(1, LINES + 1))
    assert stored + rec.stdout.decode() == expected
    assert b"re-attached to Job" in rec.system
    assert KubernetesRunner.probe(handle) is Liveness.GONE, "the resumed run removes the Job at its end"


def test_stop_handle_and_the_sweep_by_label(k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    long_spec = RunSpec(["sh", "-c", "echo up; exec sleep 300"], runner="kubernetes", grace_period=1,
                        options={"image": BUSYBOX, "image_pull_policy": "Never", "kubeconfig": k8s_cluster.kubeconfig,
                                 "context": k8s_cluster.context, "namespace": k8s_namespace,
                                 "active_deadline_seconds": 600},
                        env={"DB_PASSWORD": "hunter2-hunter2"})  # a Secret goes with the Job
    first, _, _ = start_and_kill(long_spec, "test:swept", after_lines=1)
    second, _, _ = start_and_kill(long_spec, "test:stopped", after_lines=1)
    # An active run's Job is left alone; the one of a run no longer active is removed with its pod and Secret.
    assert KubernetesRunner.sweep(lambda owner: True) == []
    removed = KubernetesRunner.sweep(lambda owner: owner != "test:swept")
    assert f"Job {k8s_namespace}/{first['job']}" in removed
    assert all(second["job"] not in r for r in removed)
    # Its pod and Secret go too (removed by the sweep, or by the garbage collector with the Job
    # first): no_runwright_objects_left checks that nothing of runwright's remains.
    assert KubernetesRunner.probe(first) is Liveness.GONE
    stop = KubernetesRunner.stop_handle(second, 1)
    assert stop.confirmed, stop.detail
    assert KubernetesRunner.probe(second) is Liveness.GONE
    assert KubernetesRunner.stop_handle(second, 1).confirmed  # already gone is confirmed
