"""Smoke check of a running cluster, by hand: a namespace and two Jobs through the official kubernetes client;
watch, logs and exit codes (0 and 42). `python3 job_smoke.py` after start.sh; exit 0 when both came back right."""
import os
import sys
import time
import uuid

from kubernetes import client, config, watch

K = os.environ.get("RUNWRIGHT_K8S_DIR", "/tmp/runwright-k8s")
config.load_kube_config(config_file=f"{K}/admin.kubeconfig", context="runwright-local")
core = client.CoreV1Api()
batch = client.BatchV1Api()

t0 = time.monotonic()
ns = "smoke-" + uuid.uuid4().hex[:6]
core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
print(f"namespace {ns} created ({time.monotonic() - t0:.2f}s)")

# the ServiceAccount admission plugin needs the 'default' SA (made by the token controller)
for _ in range(100):
    try:
        core.read_namespaced_service_account("default", ns)
        break
    except client.ApiException:
        time.sleep(0.1)
print(f"default SA present ({time.monotonic() - t0:.2f}s)")


def make_job(name, script):
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(
            backoff_limit=0,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": name}),
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[client.V1Container(
                        name="main", image="localhost/busybox:1", image_pull_policy="Never",
                        command=["/bin/sh", "-c", script])],
                ),
            ),
        ),
    )


jobs = {
    "ok-job": "echo hello from $(hostname); echo line2; sleep 1; exit 0",
    "fail-job": "echo about to fail >&2; echo stdout-too; exit 42",
}
for name, script in jobs.items():
    batch.create_namespaced_job(ns, make_job(name, script))
    print(f"job {name} created ({time.monotonic() - t0:.2f}s)")

done = {}
w = watch.Watch()
for ev in w.stream(core.list_namespaced_pod, ns, timeout_seconds=120):
    pod = ev["object"]
    job = pod.metadata.labels.get("job-name")
    cs = (pod.status.container_statuses or [None])[0]
    state = None
    if cs and cs.state.terminated:
        state = f"terminated exit={cs.state.terminated.exit_code} reason={cs.state.terminated.reason}"
    elif cs and cs.state.running:
        state = "running"
    elif cs and cs.state.waiting:
        state = f"waiting {cs.state.waiting.reason}"
    print(f"  [{time.monotonic() - t0:6.2f}s] {ev['type']:8} {pod.metadata.name:20} phase={pod.status.phase} {state}")
    if pod.status.phase in ("Succeeded", "Failed") and cs and cs.state.terminated:
        done[job] = (pod.metadata.name, pod.status.phase, cs.state.terminated.exit_code)
    if len(done) == len(jobs):
        w.stop()

for job, (pod_name, phase, code) in done.items():
    logs = core.read_namespaced_pod_log(pod_name, ns, container="main")
    print(f"{job}: pod={pod_name} phase={phase} exit_code={code} logs={logs!r}")

for name in jobs:
    for _ in range(50):
        st = batch.read_namespaced_job_status(name, ns).status
        if st.succeeded or st.failed:
            break
        time.sleep(0.2)
    conds = [(c.type, c.status, c.reason) for c in (st.conditions or [])]
    print(f"job {name}: succeeded={st.succeeded} failed={st.failed} conditions={conds}")

print(f"total {time.monotonic() - t0:.2f}s")
ok = done.get("ok-job", (0, 0, -1))[2] == 0 and done.get("fail-job", (0, 0, -1))[2] == 42
core.delete_namespace(ns)
sys.exit(0 if ok else 1)
