"""The real local Kubernetes cluster the Kubernetes tests use, started here when needed.

Kubernetes v1.20.2 (etcd, kube-apiserver, controller-manager, scheduler, kubelet with its own
containerd) on 127.0.0.1, built once per machine from Debian bookworm's `kubernetes` source
package. The shell scripts in tests/infra/k8s/ do the work (see tests/infra/k8s/README.md);
this module runs them and hands out the kubeconfig path and context.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent / "k8s"
CONTEXT = "runwright-local"
#: Images available to pods (imported into the cluster's containerd; use imagePullPolicy Never).
BUSYBOX = "localhost/busybox:1"
#: Every Job, pod and Secret runwright creates carries this label.
MANAGED_SELECTOR = "app.kubernetes.io/managed-by=runwright"


class InfraError(RuntimeError):
    pass


@dataclass(frozen=True)
class LocalCluster:
    """Where the cluster is: an admin token kubeconfig file and the context to use in it."""

    kubeconfig: str
    context: str


def state_dir() -> Path:
    return Path(os.environ.get("RUNWRIGHT_K8S_DIR", "/tmp/runwright-k8s"))


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "runwright" / "k8s-v1.20.2"
    return Path(os.environ.get("RUNWRIGHT_K8S_CACHE", default))


def is_built() -> bool:
    """The binaries of the current recipe are in the cache (``build.sh --check``)."""
    return subprocess.run(["bash", str(SCRIPTS / "build.sh"), "--check"], capture_output=True).returncode == 0


def is_running() -> bool:
    return subprocess.run(["bash", str(SCRIPTS / "status.sh")], capture_output=True).returncode == 0


def _script(name: str, timeout: float) -> str:
    try:
        proc = subprocess.run(["bash", str(SCRIPTS / name)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise InfraError(f"tests/infra/k8s/{name} did not finish within {timeout:.0f} s") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
        raise InfraError(f"tests/infra/k8s/{name} failed with exit code {proc.returncode}:\n{tail}")
    return proc.stdout


def ensure_cluster(start_timeout: float = 240.0) -> tuple[LocalCluster, bool]:
    """Start the cluster unless it runs; returns it and whether this call started it.

    Raises InfraError with the reason when it cannot: the binaries are not built (a build takes
    about 6 minutes, so it is not started from inside a test session), a port is taken, a
    component exits or the node does not become Ready.
    """
    if os.geteuid() != 0:
        raise InfraError("the Kubernetes tests need root: the kubelet and containerd manage mounts and cgroups")
    if not is_built():
        raise InfraError(
            f"the local Kubernetes binaries are not built in {cache_dir()}: run `bash tests/infra/k8s/build.sh` "
            "once per machine (about 6 minutes; RUNWRIGHT_K8S_CACHE chooses the cache directory)")
    kubeconfig = str(state_dir() / "admin.kubeconfig")
    if is_running():
        return LocalCluster(kubeconfig, CONTEXT), False
    out = _script("start.sh", start_timeout)
    return LocalCluster(out.strip().splitlines()[-1], CONTEXT), "already running" not in out


def stop_cluster(timeout: float = 120.0) -> None:
    _script("stop.sh", timeout)


def make_namespace(core: Any, name: str, timeout: float = 60.0) -> None:
    """Create namespace ``name`` and wait until pods can be created in it: its ``default``
    ServiceAccount exists and holds its token Secret (on v1.20 the admission plugin refuses a
    pod until the token controller added it: "No API token found for service account")."""
    from kubernetes import client

    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    deadline = time.monotonic() + timeout
    while True:
        try:
            if core.read_namespaced_service_account("default", name).secrets:
                return
        except client.ApiException as exc:
            if exc.status != 404:
                raise
        if time.monotonic() > deadline:
            raise InfraError(f"namespace {name}: its default ServiceAccount has no token after {timeout:.0f} s")
        time.sleep(0.1)
