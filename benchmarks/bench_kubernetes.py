"""KubernetesRunner vs the kubernetes client called directly, on the local test cluster.

    python -m benchmarks.bench_kubernetes [--runs 10] [--mb 50]

1. A Job round trip: create to terminal status with all logs read. runwright:
   ``ExecutionLogger.run`` with the KubernetesRunner (keep_job, so its own cleanup is not
   timed), the log stored in the embedded SQLite database; the client: create the Job, watch its
   pod until the container started, read the log (follow), watch the Job until Complete. Both Jobs are
   deleted between rounds, untimed. Interleaved, median of the rounds.
2. Log throughput from a pod printing ``--mb`` MB in 100-byte lines: the runner (timestamps on,
   cursor kept, to a discarding sink) vs the client's own log stream read (follow, no
   timestamps, bytes counted), and the client's read with timestamps (the stream the runner
   asks for, each line 31 bytes longer); each its own Job, timed from its creation to the end of its log
   and the Job's Complete, best of 2.

Needs the local cluster (``bash tests/infra/k8s/start.sh``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from typing import Any

from benchmarks.common import table
from tests.infra.k8s_cluster import BUSYBOX, ensure_cluster

#: A namespace of its own per run (the last run's may still be terminating).
NAMESPACE = f"rw-bench-{uuid.uuid4().hex[:6]}"


def direct_job(core: Any, batch: Any, command: list[str], timestamps: bool = False) -> int:
    """Create a Job, follow its pod's log to the end, wait for Complete; bytes of log read
    (with ``timestamps``, as the kubelet sends them: each line 31 bytes longer)."""
    from kubernetes import client, watch

    name = f"bench-{uuid.uuid4().hex[:12]}"
    job = client.V1Job(
        metadata=client.V1ObjectMeta(name=name, labels={"bench": "direct"}),
        spec=client.V1JobSpec(backoff_limit=0, template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"bench-job": name}),
            spec=client.V1PodSpec(restart_policy="Never", termination_grace_period_seconds=1, containers=[
                client.V1Container(name="main", image=BUSYBOX, image_pull_policy="Never", command=command)]))))
    batch.create_namespaced_job(NAMESPACE, job)
    pod = None
    w = watch.Watch()
    for ev in w.stream(core.list_namespaced_pod, NAMESPACE, label_selector=f"bench-job={name}", timeout_seconds=120):
        p = ev["object"]
        statuses = p.status.container_statuses or []
        if statuses and statuses[0].state and (statuses[0].state.running or statuses[0].state.terminated):
            pod = p.metadata.name
            w.stop()
    assert pod is not None
    resp = core.read_namespaced_pod_log(pod, NAMESPACE, follow=True, timestamps=timestamps, _preload_content=False)
    n = 0
    for chunk in resp.stream(256 * 1024, decode_content=False):
        n += len(chunk)
    resp.release_conn()
    w = watch.Watch()
    for ev in w.stream(batch.list_namespaced_job, NAMESPACE, field_selector=f"metadata.name={name}", timeout_seconds=120):
        if any(c.type == "Complete" and c.status == "True" for c in ev["object"].status.conditions or []):
            w.stop()
    return n


def clean(core: Any, batch: Any) -> None:
    """Delete every Job of the namespace and wait until no pod is left (untimed)."""
    from kubernetes import client

    for job in batch.list_namespaced_job(NAMESPACE).items:
        batch.delete_namespaced_job(job.metadata.name, NAMESPACE, body=client.V1DeleteOptions(
            propagation_policy="Background", grace_period_seconds=0))
    while core.list_namespaced_pod(NAMESPACE).items:
        time.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--mb", type=int, default=50)
    args = parser.parse_args()
    from kubernetes import client, config

    from runwright.runners import RunSpec
    from runwright.runners.events import NullReporter
    from runwright.runners.kubernetes import KubernetesRunner

    cluster, _ = ensure_cluster()
    api = config.new_client_from_config(config_file=cluster.kubeconfig, context=cluster.context)
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    try:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
        while True:
            try:
                core.read_namespaced_service_account("default", NAMESPACE)
                break
            except client.ApiException:
                time.sleep(0.2)
    except client.ApiException as exc:
        if exc.status != 409:
            raise
    options = {"image": BUSYBOX, "image_pull_policy": "Never", "kubeconfig": cluster.kubeconfig,
               "context": cluster.context, "namespace": NAMESPACE, "keep_job": True}
    runner = KubernetesRunner()

    def via_runner(command: list[str]) -> int:
        result = runner.run(RunSpec(command, runner="kubernetes", grace_period=1, options=options), NullReporter())
        assert result.ok, result.error
        return result.stdout_bytes

    # The round trip as a user has it: recorded through the ExecutionLogger, every log line stored
    # (the embedded SQLite database of a data directory of its own).
    os.environ["RUNWRIGHT_HOME"] = tempfile.mkdtemp(prefix="rw-bench-k8s-")
    os.environ.pop("DATABASE_URL", None)
    from runwright.integrations.django import setup

    setup()
    from runwright.logging_core import ExecutionLogger

    logger = ExecutionLogger(structured_log=False, metrics=False)

    def via_logger(command: list[str]) -> int:
        spec = RunSpec(command, runner="kubernetes", grace_period=1, options=options)
        ref = logger.create(spec)
        result = logger.run(spec, ref)
        assert result.ok, result.error
        stored = sum(len(c.data) for c in logger.read_log(ref) if c.stream == "stdout")
        assert stored == result.stdout_bytes, (stored, result.stdout_bytes)
        return stored

    hello = ["sh", "-c", "echo hello"]
    recorded = "ExecutionLogger.run -> KubernetesRunner, log stored in SQLite"
    times: dict[str, list[float]] = {"client directly": [], recorded: []}
    for _ in range(args.runs):
        for case, fn in (("client directly", lambda: direct_job(core, batch, hello)),
                         (recorded, lambda: via_logger(hello))):
            t0 = time.perf_counter()
            fn()
            times[case].append(time.perf_counter() - t0)
            clean(core, batch)
    base = statistics.median(times["client directly"])
    print(f"## Job round trip: `echo hello`, create to Complete with the log read, {args.runs} runs each, "
          "interleaved\n")
    print(table(["case", "median s", "ratio to the client"],
                [[k, f"{statistics.median(v):.2f}", f"{statistics.median(v) / base:.2f}x"] for k, v in times.items()]))

    size = args.mb * 1_000_000
    line = "a" * 99
    printer = ["sh", "-c", f"yes {line} | head -c {size}"]
    rows, seconds = [], {}
    stamped = size // 100 * 131  # what the kubelet sends with timestamps: 31 bytes more per line
    for case, fn, expected in (
            ("client's log stream read (follow, bytes counted)", lambda: direct_job(core, batch, printer), size),
            ("client's read with timestamps (what the runner asks for)",
             lambda: direct_job(core, batch, printer, timestamps=True), stamped),
            ("KubernetesRunner -> discarding sink", lambda: via_runner(printer), size)):
        best = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            n = fn()
            best = min(best, time.perf_counter() - t0)
            clean(core, batch)
            assert n == expected, (case, n)
        seconds[case] = best
    base_s = seconds["client's log stream read (follow, bytes counted)"]
    for case, s in seconds.items():
        rows.append([case, f"{s:.2f}", f"{size / s / 1e6:.0f}", f"{base_s / s:.2f}x"])
    print(f"\n## Log throughput: a pod printing {args.mb} MB in 100-byte lines, Job created to log read, best of 2\n")
    print(table(["case", "seconds", "MB/s", "throughput vs the client"], rows))
    core.delete_namespace(NAMESPACE)


if __name__ == "__main__":
    main()
