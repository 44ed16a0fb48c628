"""Connecting to a Kubernetes cluster, and the labels runwright puts on what it creates.

A run names its cluster explicitly: a kubeconfig file and a context in it, or the in-cluster
configuration of the pod the worker runs in. Whatever cluster happens to be ambient
(``$KUBECONFIG``, ``~/.kube/config``'s current context) is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from collections.abc import Mapping
from typing import Any

from runwright.runners.base import RunnerError

#: Every Job, pod and Secret runwright creates carries LABEL_MANAGED=MANAGED_VALUE.
LABEL_MANAGED = "app.kubernetes.io/managed-by"
MANAGED_VALUE = "runwright"
MANAGED_SELECTOR = f"{LABEL_MANAGED}={MANAGED_VALUE}"
#: The run id (32 hex digits), on the Job, its pods and its Secret.
LABEL_RUN = "runwright.io/run-id"
#: The execution id made label-safe (see ``label_value``); the exact tag is ANNOTATION_EXECUTION.
LABEL_EXECUTION = "runwright.io/execution-id"
#: The owner tag ``"<store key>:<execution id>"`` as given (label values cannot hold ``:``).
ANNOTATION_EXECUTION = "runwright.io/execution"

_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def label_value(text: str) -> str:
    """``text`` itself when it is a valid label value, else ``h-`` and 40 hex digits of its SHA-256."""
    if _LABEL_VALUE.match(text):
        return text
    return "h-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def connect(kubeconfig: str | None, context: str | None, in_cluster: bool) -> Any:
    """A ``kubernetes.client.ApiClient`` for exactly the cluster named.

    Raises RunnerError naming the problem (missing file, unknown context, not in a pod).
    """
    from kubernetes import client, config

    if in_cluster:
        cfg = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=cfg)
        except config.ConfigException as exc:
            raise RunnerError(f"options.in_cluster: no in-cluster configuration ({exc})") from None
        return client.ApiClient(cfg)
    if not kubeconfig or not context:
        raise RunnerError("options.kubeconfig and options.context are both required (or options.in_cluster)")
    try:
        return config.new_client_from_config(config_file=kubeconfig, context=context, persist_config=False)
    except config.ConfigException as exc:
        raise RunnerError(f"kubeconfig {kubeconfig!r}, context {context!r}: {exc}") from None
    except OSError as exc:
        raise RunnerError(f"kubeconfig {kubeconfig!r} cannot be read: {exc.strerror or exc}") from None


def api_message(exc: BaseException) -> str:
    """One line from an API error: the HTTP status and the Status object's message."""
    status = getattr(exc, "status", None)
    body = getattr(exc, "body", None)
    message = ""
    if body:
        try:
            data = json.loads(body)
            message = data.get("message", "") if isinstance(data, Mapping) else ""
        except (ValueError, TypeError):
            message = str(body)[:300]
    if not message:
        message = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
    return f"{message} (HTTP {status})" if status else str(message)


def api_error(what: str, exc: BaseException) -> RunnerError:
    return RunnerError(f"{what}: {api_message(exc)}")


# -- the clusters a sweep looks at ---------------------------------------------------------------
#: (kubeconfig, context, in_cluster) of every cluster a run of this process used.
_USED: set[tuple[str | None, str | None, bool]] = set()
_USED_LOCK = threading.Lock()


def remember_cluster(kubeconfig: str | None, context: str | None, in_cluster: bool) -> None:
    """Note a cluster a run (or a re-attached handle) of this process used, for ``sweep``."""
    with _USED_LOCK:
        _USED.add((kubeconfig, context, in_cluster))


def configured_clusters() -> list[tuple[str | None, str | None, bool]]:
    """The clusters the sweep looks at: RUNWRIGHT_KUBECONFIG with each context of
    RUNWRIGHT_KUBE_CONTEXT (comma-separated), the in-cluster configuration when
    RUNWRIGHT_KUBE_IN_CLUSTER=1, and every cluster a run of this process used."""
    found: list[tuple[str | None, str | None, bool]] = []
    kubeconfig = os.environ.get("RUNWRIGHT_KUBECONFIG")
    contexts = [c.strip() for c in os.environ.get("RUNWRIGHT_KUBE_CONTEXT", "").split(",") if c.strip()]
    if kubeconfig:
        found += [(kubeconfig, c, False) for c in contexts]
    if os.environ.get("RUNWRIGHT_KUBE_IN_CLUSTER") == "1":
        found.append((None, None, True))
    with _USED_LOCK:
        found += [c for c in sorted(_USED, key=str) if c not in found]
    return found
