"""The deploy operations (runner "kubernetes-deploy") on the real local cluster: apply of a
multi-document manifest with a Secret, a dry run, rollout, scale, logs and delete of a
Deployment; a rollout that never becomes available; manifests that do not parse, a kind the
cluster does not know, an object the API server refuses."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from runwright.integrations.django.models import Execution
from runwright.logging_core import ExecutionLogger
from runwright.runners import MemoryRecorder, RunSpec, Status, run
from tests.infra.k8s_cluster import BUSYBOX, LocalCluster

SECRET_VALUE = "pa55-w0rd-never-logged"


def deploy(cluster: LocalCluster, namespace: str, action: str, **options: Any) -> RunSpec:
    timeout = options.pop("timeout", 120)
    return RunSpec(runner="kubernetes-deploy", timeout=timeout,
                   options={"action": action, "kubeconfig": cluster.kubeconfig, "context": cluster.context,
                            "namespace": namespace, **options})


def manifests(name: str, image: str = BUSYBOX, replicas: int = 1) -> str:
    encoded = base64.b64encode(SECRET_VALUE.encode()).decode()
    return f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}-config}}
data: {{greeting: hello}}
---
apiVersion: v1
kind: Secret
metadata: {{name: {name}-secret}}
data: {{password: {encoded}}}
stringData: {{token: {SECRET_VALUE}-token}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {image}
        imagePullPolicy: Never
        command: ["sh", "-c", "echo serving $(hostname) with $(cat /secret/token); exec sleep 3600"]
        volumeMounts: [{{name: secret, mountPath: /secret}}]
      volumes: [{{name: secret, secret: {{secretName: {name}-secret}}}}]
"""


def test_apply_rollout_scale_logs_and_delete_a_deployment(
        k8s_cluster: LocalCluster, k8s_namespace: str, k8s_api: Any) -> None:
    from kubernetes import client

    apps, core = client.AppsV1Api(k8s_api), client.CoreV1Api(k8s_api)
    text = manifests("web")
    # A dry run persists nothing.
    rec = MemoryRecorder()
    result = run(deploy(k8s_cluster, k8s_namespace, "apply", manifests=text, dry_run=True), rec)
    assert result.status == Status.SUCCESS, result.error
    assert b"deployment.apps/web created (server dry run)" in rec.system
    assert apps.list_namespaced_deployment(k8s_namespace).items == []
    # Apply and wait for the rollout.
    rec = MemoryRecorder()
    result = run(deploy(k8s_cluster, k8s_namespace, "apply", manifests=text, wait=True), rec)
    assert result.status == Status.SUCCESS, result.error
    log = rec.system.decode()
    assert "configmap/web-config created" in log and "secret/web-secret created" in log
    assert "deployment.apps/web created" in log and "successfully rolled out (1 available)" in log
    assert SECRET_VALUE not in log + str(rec.events()) + str(result.to_dict())
    assert base64.b64encode(SECRET_VALUE.encode()).decode() not in log + str(rec.events())
    assert [e["result"] for k, e in rec.events() if k == "kubernetes.applied"] == ["created"] * 3
    stored = core.read_namespaced_secret("web-secret", k8s_namespace)
    assert base64.b64decode(stored.data["password"]).decode() == SECRET_VALUE
    # Applying the same manifests again changes nothing.
    rec = MemoryRecorder()
    assert run(deploy(k8s_cluster, k8s_namespace, "apply", manifests=text), rec).status == Status.SUCCESS
    assert "deployment.apps/web unchanged" in rec.system.decode()
    # Scale to 2 and wait.
    rec = MemoryRecorder()
    result = run(deploy(k8s_cluster, k8s_namespace, "scale", name="web", replicas=2, wait=True), rec)
    assert result.status == Status.SUCCESS, result.error
    assert "deployment.apps/web scaled from 1 to 2" in rec.system.decode()
    assert apps.read_namespaced_deployment("web", k8s_namespace).status.available_replicas == 2
    # Logs by label selector, the last line of each pod. The pods print the Secret they mount:
    # given the manifests, the logs run masks the Secret's values.
    rec = MemoryRecorder()
    result = run(deploy(k8s_cluster, k8s_namespace, "logs", selector="app=web", tail_lines=1, container="main",
                        manifests=text), rec)
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout.count(b"serving web-") == 2 and len(result.metadata["pods"]) == 2
    assert rec.stdout.count(b" with ***\n") == 2 and SECRET_VALUE.encode() not in rec.stdout, rec.stdout
    # Logs by pod name, recorded: neither the stored spec nor the stored log holds the Secret.
    pod = result.metadata["pods"][0]
    logger = ExecutionLogger(structured_log=False, metrics=False)
    result = logger.run(deploy(k8s_cluster, k8s_namespace, "logs", name=pod, manifests=text))
    assert result.status == Status.SUCCESS, result.error
    ref = int((result.log_ref or "").rsplit("/", 1)[1])
    assert b"".join(c.data for c in logger.read_log(ref) if c.stream == "stdout") == f"serving {pod} with ***\n".encode()
    stored = json.dumps(Execution.objects.get(pk=ref).spec)
    assert "web-secret" in stored and SECRET_VALUE not in stored
    assert base64.b64encode(SECRET_VALUE.encode()).decode() not in stored
    # Rollout status of a complete rollout.
    rec = MemoryRecorder()
    assert run(deploy(k8s_cluster, k8s_namespace, "rollout", name="web"), rec).status == Status.SUCCESS
    # Delete everything the manifests name, and wait until it is gone.
    rec = MemoryRecorder()
    result = run(deploy(k8s_cluster, k8s_namespace, "delete", manifests=text, wait=True), rec)
    assert result.status == Status.SUCCESS, result.error
    assert "deployment.apps/web deleted" in rec.system.decode() and "deployment.apps/web is gone" in rec.system.decode()
    assert apps.list_namespaced_deployment(k8s_namespace).items == []
    assert [s for s in core.list_namespaced_secret(k8s_namespace).items if s.metadata.name == "web-secret"] == []
    # Deleting again: not found, still a success.
    rec = MemoryRecorder()
    assert run(deploy(k8s_cluster, k8s_namespace, "delete", kind="Deployment", name="web"), rec).status == Status.SUCCESS
    assert "deployment.apps/web not found" in rec.system.decode()


def test_a_rollout_that_never_becomes_available_is_a_timeout_with_the_conditions(
        k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    text = manifests("never", image="localhost/no-such-image:1")
    try:
        rec = MemoryRecorder()
        result = run(deploy(k8s_cluster, k8s_namespace, "apply", manifests=text, wait=True, rollout_timeout=8), rec)
        assert result.status == Status.TIMEOUT, result.error
        assert "deployment.apps/never did not become available within 8s (rollout_timeout)" in (result.error or "")
        assert "Available=False (MinimumReplicasUnavailable" in (result.error or ""), result.error
        # The same through the run's own timeout.
        result = run(deploy(k8s_cluster, k8s_namespace, "rollout", name="never", timeout=6), MemoryRecorder())
        assert result.status == Status.TIMEOUT, result.error
        assert "(the run's timeout)" in (result.error or "") and "Available=False" in (result.error or "")
    finally:
        run(deploy(k8s_cluster, k8s_namespace, "delete", manifests=text, wait=True))


@pytest.mark.parametrize(("text", "expected"), [
    ("kind: ConfigMap\napiVersion: v1\nmetadata: {name: a}\n---\nkind: [unclosed\n",
     "invalid spec: options.manifests: document 2 is not valid YAML at line 6"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
     "invalid spec: options.manifests: document 2 (ConfigMap): metadata.name is missing"),
    ("- just\n- a list\n", "invalid spec: options.manifests: document 1: must be a mapping"),
])
def test_a_manifest_that_does_not_parse_is_an_error_naming_document_and_field(
        k8s_cluster: LocalCluster, k8s_namespace: str, text: str, expected: str) -> None:
    result = run(deploy(k8s_cluster, k8s_namespace, "apply", manifests=text))
    assert result.status == Status.ERROR
    assert (result.error or "").startswith(expected), result.error


def test_a_kind_the_cluster_does_not_know_and_a_refused_field_are_errors_naming_them(
        k8s_cluster: LocalCluster, k8s_namespace: str) -> None:
    unknown = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fine}\n---\n"
               "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n")
    result = run(deploy(k8s_cluster, k8s_namespace, "apply", manifests=unknown, dry_run=True))
    assert result.status == Status.ERROR
    assert "document 2 (Widget w): kind 'Widget' (apiVersion 'example.com/v1') is not known to the cluster" in (
        result.error or ""), result.error
    refused = ("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: bad}\nspec:\n  replicas: -3\n"
               "  selector: {matchLabels: {app: bad}}\n  template:\n    metadata: {labels: {app: bad}}\n"
               "    spec: {containers: [{name: c, image: x}]}\n")
    result = run(deploy(k8s_cluster, k8s_namespace, "apply", manifests=refused, dry_run=True))
    assert result.status == Status.ERROR
    assert "document 1 (Deployment bad) was refused" in (result.error or "") and "spec.replicas" in (result.error or "")
