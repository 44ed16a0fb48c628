"""What a Kubernetes run creates (a Job, and a Secret for its secret environment) and how what
Kubernetes reports about it maps to runwright's statuses. No I/O here: the runner sends and
watches; these functions build models and read them."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from runwright.runners.exitcodes import describe_exit
from runwright.runners.kubernetes_api import (
    ANNOTATION_EXECUTION,
    LABEL_EXECUTION,
    LABEL_MANAGED,
    LABEL_RUN,
    MANAGED_VALUE,
    label_value,
)
from runwright.runners.secrets import MIN_DETECTED_LENGTH, looks_secret
from runwright.runners.spec import RunSpec

CONTAINER = "main"
#: Waiting reasons that mean the container will not start by itself: the run is an ``error``
#: found within seconds instead of at the deadline.
FATAL_WAITING = frozenset({
    "ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull", "InvalidImageName", "CreateContainerConfigError",
    "CreateContainerError", "RunContainerError",
})


def job_name(run_id: str) -> str:
    return f"runwright-{run_id[:32].lower()}"


def managed_labels(run_id: str, execution_id: str) -> dict[str, str]:
    return {LABEL_MANAGED: MANAGED_VALUE, LABEL_RUN: label_value(run_id),
            LABEL_EXECUTION: label_value(execution_id or run_id)}


def secret_env(spec: RunSpec) -> dict[str, str]:
    """The environment variables whose values are secret (named in ``secret_env``, or with a
    secret-looking name): they go through a Kubernetes Secret, never into the pod spec."""
    named = set(spec.secret_env)
    return {k: v for k, v in spec.env.items()
            if k in named or (looks_secret(k) and len(v) >= MIN_DETECTED_LENGTH) or v in spec.secrets}


def build_secret(name: str, namespace: str, values: dict[str, str], labels: dict[str, str], execution_tag: str) -> Any:
    from kubernetes import client

    return client.V1Secret(api_version="v1", kind="Secret", type="Opaque", string_data=dict(values),
                           metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=dict(labels),
                                                        annotations={ANNOTATION_EXECUTION: execution_tag}))


def owner_reference(job: Any) -> dict[str, Any]:
    """Owner reference to ``job`` (as the API's JSON): the garbage collector removes the owned
    object with the Job, and a foreground delete of the Job waits for it."""
    return {"apiVersion": "batch/v1", "kind": "Job", "name": job.metadata.name, "uid": job.metadata.uid,
            "blockOwnerDeletion": True, "controller": False}


def build_job(spec: RunSpec, *, name: str, namespace: str, labels: dict[str, str], execution_tag: str,
              secret_name: str | None, secret_keys: list[str]) -> Any:
    """The Job of a run. ``spec.options`` were validated by the runner."""
    from kubernetes import client

    opts = spec.options
    user_labels = {str(k): str(v) for k, v in opts.get("labels", {}).items()}
    annotations = {str(k): str(v) for k, v in opts.get("annotations", {}).items()}
    annotations.update({f"runwright.io/label.{k}": v for k, v in spec.labels.items()})
    annotations[ANNOTATION_EXECUTION] = execution_tag
    all_labels = {**user_labels, **labels}
    env = [client.V1EnvVar(name=k, value=v) for k, v in spec.env.items() if k not in secret_keys]
    env += [client.V1EnvVar(name=k, value_from=client.V1EnvVarSource(
        secret_key_ref=client.V1SecretKeySelector(name=secret_name, key=k))) for k in secret_keys]
    mounts, volumes = [], []
    for vol in opts.get("volumes", []):
        mounts.append(client.V1VolumeMount(name=vol["name"], mount_path=vol["mount_path"],
                                           read_only=bool(vol.get("read_only", False))))
        volumes.append(client.V1Volume(
            name=vol["name"],
            config_map=client.V1ConfigMapVolumeSource(name=vol["config_map"]) if "config_map" in vol else None,
            secret=client.V1SecretVolumeSource(secret_name=vol["secret"]) if "secret" in vol else None,
            empty_dir=client.V1EmptyDirVolumeSource() if "empty_dir" in vol else None,
        ))
    container = client.V1Container(
        name=CONTAINER, image=opts["image"], command=spec.argv, working_dir=spec.cwd, env=env or None,
        image_pull_policy=opts.get("image_pull_policy"), volume_mounts=mounts or None,
        resources=client.V1ResourceRequirements.from_dict(opts["resources"]) if "resources" in opts else None,
    )
    pod = client.V1PodSpec(
        restart_policy="Never", containers=[container], volumes=volumes or None,
        service_account_name=opts.get("service_account"), node_selector=opts.get("node_selector"),
        tolerations=_tolerations(opts.get("tolerations")),
        # a stop honours the run's grace period (the pod's default would be 30 s)
        termination_grace_period_seconds=math.ceil(spec.grace_period),
    )
    deadline = opts.get("active_deadline_seconds")
    if deadline is None and spec.timeout is not None:
        deadline = math.ceil(spec.timeout)
    return client.V1Job(
        api_version="batch/v1", kind="Job",
        metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=all_labels, annotations=annotations),
        spec=client.V1JobSpec(
            backoff_limit=int(opts.get("backoff_limit", 0)), active_deadline_seconds=deadline,
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=all_labels, annotations=annotations), spec=pod),
        ),
    )


# -- reading what Kubernetes says ---------------------------------------------------------------
def container_status(pod: Any) -> Any | None:
    for cs in (pod.status.container_statuses or []) if pod.status else []:
        if cs.name == CONTAINER:
            return cs
    return None


def fatal_waiting(pod: Any) -> str | None:
    """Why the pod's container will never start, or None."""
    cs = container_status(pod)
    waiting = cs.state.waiting if cs is not None and cs.state is not None else None
    if waiting is not None and waiting.reason in FATAL_WAITING:
        detail = f": {waiting.message}" if waiting.message else ""
        return f"the container cannot start: {waiting.reason}{detail}"
    return None


def unschedulable(pod: Any) -> str | None:
    """The scheduler's message while the pod cannot be placed on a node, else None."""
    for cond in (pod.status.conditions or []) if pod.status else []:
        if cond.type == "PodScheduled" and cond.status == "False" and cond.reason == "Unschedulable":
            return cond.message or "Unschedulable"
    return None


def started(pod: Any) -> bool:
    """The container runs or ran (its log can be read)."""
    cs = container_status(pod)
    return cs is not None and cs.state is not None and (cs.state.running is not None or cs.state.terminated is not None)


def terminated(pod: Any) -> Any | None:
    cs = container_status(pod)
    return cs.state.terminated if cs is not None and cs.state is not None else None


def job_finished(job: Any) -> Any | None:
    """The Job's Complete or Failed condition (status True), or None while it runs."""
    for cond in (job.status.conditions or []) if job.status else []:
        if cond.type in ("Complete", "Failed") and cond.status == "True":
            return cond
    return None


def pod_phase_event(pod: Any) -> dict[str, Any]:
    """The ``kubernetes.pod`` event of a pod's current state: pod, phase, node, and the
    container's state with its reason (waiting/running/terminated, exit code)."""
    status = pod.status
    event: dict[str, Any] = {"pod": pod.metadata.name, "phase": (status.phase if status else None) or "Pending"}
    if pod.spec is not None and pod.spec.node_name:
        event["node"] = pod.spec.node_name
    if status is not None and status.reason:
        event["reason"] = status.reason
    cs = container_status(pod)
    if cs is not None and cs.state is not None:
        if cs.state.waiting is not None:
            event.update(container="waiting", reason=cs.state.waiting.reason)
        elif cs.state.running is not None:
            event["container"] = "running"
        elif cs.state.terminated is not None:
            event.update(container="terminated", reason=cs.state.terminated.reason,
                         exit_code=cs.state.terminated.exit_code)
    why = unschedulable(pod)
    if why:
        event.update(reason="Unschedulable", message=why)
    return event


def pod_gone_reason(name: str, pod: Any | None) -> str:
    """Why the run's pod went away before its container ended: evicted (the kubelet or the
    Eviction API) or deleted by someone else."""
    if pod is not None and pod.status is not None and pod.status.reason == "Evicted":
        return f"pod {name} was evicted by the kubelet: {pod.status.message or 'Evicted'}"
    return (f"pod {name} was deleted from outside the run (by a user, a controller or the Eviction API) "
            "before its container ended")


@dataclass
class Outcome:
    """How a finished Job ended, in runwright's terms (the runner turns it into an Exit)."""

    exit_code: int | None
    #: "timeout" when Kubernetes enforced activeDeadlineSeconds; None: decided by the exit code.
    status: str | None = None
    reason: str | None = None
    oom_killed: bool = False


def job_outcome(job: Any, pod: Any | None) -> Outcome:
    """Map the finished Job (and its last pod) to an Outcome."""
    cond = job_finished(job)
    term = terminated(pod) if pod is not None else None
    code = term.exit_code if term is not None else None
    oom = term is not None and term.reason == "OOMKilled"
    if cond is None:
        return Outcome(code, reason="the Job has no Complete or Failed condition")
    if cond.type == "Complete":
        return Outcome(0 if code is None else code)
    attempts = (job.status.failed or 0) + (job.status.succeeded or 0)
    if cond.reason == "DeadlineExceeded":
        return Outcome(code, status="timeout", reason=(
            f"Kubernetes stopped the Job at its activeDeadlineSeconds ({job.spec.active_deadline_seconds}s): "
            f"DeadlineExceeded: {cond.message or 'the Job was active longer than allowed'}"))
    if pod is not None and pod.status is not None and pod.status.reason == "Evicted":
        why = f"pod {pod.metadata.name} was evicted by the kubelet: {pod.status.message or 'Evicted'}"
    elif oom:
        limit = _memory_limit(pod)
        why = f"killed by the out-of-memory killer (OOMKilled, memory limit {limit})"
    elif code is not None:
        why = describe_exit(code)
    elif pod is not None and pod.status is not None and pod.status.reason:
        why = f"pod {pod.metadata.name}: {pod.status.reason}: {pod.status.message or ''}".rstrip(": ")
    else:
        why = "no container exit status was recorded"
    if cond.reason == "BackoffLimitExceeded":
        why = (f"the Job failed after {attempts} attempt{'s' if attempts != 1 else ''} "
               f"(backoffLimit {job.spec.backoff_limit}, BackoffLimitExceeded); last attempt: {why}")
    elif cond.reason:
        why = f"the Job failed ({cond.reason}: {cond.message or ''}); {why}"
    return Outcome(code, reason=why, oom_killed=oom)


def _memory_limit(pod: Any) -> str:
    for c in pod.spec.containers if pod is not None and pod.spec is not None else []:
        if c.name == CONTAINER and c.resources is not None and c.resources.limits:
            return str(c.resources.limits.get("memory", "none"))
    return "none"


def _tolerations(items: list[dict[str, Any]] | None) -> Any:
    from kubernetes import client

    return [client.V1Toleration.from_dict(t) for t in items] if items else None
