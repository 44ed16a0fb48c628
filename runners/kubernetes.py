"""KubernetesRunner (``runner="kubernetes"``): a command as a Kubernetes Job.

A run creates a Job (backoffLimit 0 unless told, restartPolicy Never, one container "main")
in the namespace given, on the cluster named explicitly by a kubeconfig and context (or the
in-cluster configuration); secret environment values go through a Secret created for the run
and owned by the Job. The run follows the Job's pods: their log is streamed live (see
kubernetes_logs), their phases are events, the pod and node names are live metadata as soon as
the pod is scheduled, and the exit code comes from the container's terminated state. A
container that cannot start (missing image, bad config) is an ``error`` found within seconds;
Kubernetes' own activeDeadlineSeconds ends as ``timeout``. A stop deletes the Job with its pods
(the run's grace period) and confirms they are gone; the Job and its Secret are removed after
every run.

A Job outlives its worker: the policy is REATTACH. The handle names the cluster and the Job;
``attach`` follows the rest of the log from the cursor the dead worker stored as live metadata
(``log_cursor``), so nothing stored is repeated. ``sweep`` removes by label what no active run
owns on the clusters of the settings (RUNWRIGHT_KUBECONFIG, RUNWRIGHT_KUBE_CONTEXT) and those
this process used.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from runwright.runners.base import Exit, RunContext, Runner, RunnerError
from runwright.runners.hooks import Liveness, OnWorkerLost, Stop
from runwright.runners.kubernetes_api import (
    LABEL_RUN,
    api_error,
    api_message,
    connect,
    remember_cluster,
)
from runwright.runners.kubernetes_cleanup import delete_run, sweep_clusters, wait_gone
from runwright.runners.kubernetes_job import (
    CONTAINER,
    build_job,
    build_secret,
    fatal_waiting,
    job_finished,
    job_name,
    job_outcome,
    managed_labels,
    owner_reference,
    pod_gone_reason,
    pod_phase_event,
    secret_env,
    started,
    terminated,
    unschedulable,
)
from runwright.runners.kubernetes_logs import LogFollower
from runwright.runners.options import INT32_MAX, Option, worker_lost_option
from runwright.runners.spec import MAX_DURATION, RunSpec, SpecError
from runwright.runners.status import Status

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
PROPAGATION = ("Foreground", "Background")
#: Seconds a watch request stays open before the loop looks at the run's state again.
WATCH_SECONDS = 5
#: Seconds, beyond the grace period, that a stop or cleanup waits to see the pods gone.
CONFIRM_SECONDS = 30.0
#: Seconds the Job controller is given to record why a pod of its Job went away (it deletes
#: the pods itself at activeDeadlineSeconds) before the pod counts as deleted from outside.
GONE_SETTLE = 5.0
#: Seconds after the grace period that ``terminate`` waits to see the pods gone (the base class
#: gives it the grace period and one second).
TERMINATE_CONFIRM = 0.7
#: Retries of an API call that failed with HTTP 5xx or 429 or a dropped connection.
API_RETRIES = 4


class KubernetesRunner(Runner):
    """A command as a Kubernetes Job on an explicitly named cluster."""

    name = "kubernetes"
    options = (
        Option("image", str, required=True, help="Image of the Job's one container."),
        Option("kubeconfig", str, help="Kubeconfig file of the cluster (with `context`)."),
        Option("context", str, help="Context in the kubeconfig; the file's current context is never used."),
        Option("in_cluster", bool, default=False, help="Use the service account of the pod the worker runs in."),
        Option("namespace", str, default="default", help="Namespace of the Job, its pods and its Secret."),
        Option("image_pull_policy", str, choices=PULL_POLICIES, help="The container's imagePullPolicy."),
        Option("resources", dict, help="Requests and limits as in a pod spec: {\"limits\": {\"memory\": \"64Mi\"}}."),
        Option("service_account", str, help="Service account of the pod."),
        Option("node_selector", dict, help="Node labels the pod must run on."),
        Option("tolerations", list, help="Tolerations, as in a pod spec."),
        Option("labels", dict, help="Extra labels on the Job and its pods."),
        Option("annotations", dict, help="Extra annotations on the Job and its pods."),
        Option("backoff_limit", int, default=0, minimum=0, maximum=INT32_MAX,
               help="Retries of a failed pod (the Job's backoffLimit)."),
        Option("active_deadline_seconds", int, minimum=1, maximum=MAX_DURATION,
               help="The Job's activeDeadlineSeconds (default: the run's timeout)."),
        Option("volumes", list, help="[{name, mount_path, config_map | secret | empty_dir, read_only}]."),
        Option("propagation", str, default="Foreground", choices=PROPAGATION,
               help="How a stop deletes the Job's pods: Foreground or Background."),
        Option("unschedulable_timeout", (int, float), default=60.0, minimum=0.001, maximum=MAX_DURATION,
               help="Seconds a pod may stay Unschedulable before the run is an error."),
        Option("keep_job", bool, default=False, help="Leave the finished Job (and its Secret) in the cluster."),
        worker_lost_option(),
    )
    on_worker_lost = OnWorkerLost.REATTACH
    #: Deleting what the run made may wait on the engine, the cluster or the server.
    cleanup_seconds = CONFIRM_SECONDS + 60

    # -- validation ---------------------------------------------------------------------------
    def validate(self, spec: RunSpec) -> None:
        super().validate(spec)
        opts = spec.options
        if not opts.get("image"):
            raise SpecError("options.image", "is required for the kubernetes runner")
        if spec.stdin is not None:
            raise SpecError("stdin", "is not supported by the kubernetes runner")
        if not opts.get("in_cluster"):
            for key in ("kubeconfig", "context"):
                if not opts.get(key):
                    raise SpecError(f"options.{key}", "is required (the cluster is named explicitly), "
                                    "or set options.in_cluster")
        for i, vol in enumerate(opts.get("volumes", [])):
            if not (isinstance(vol, Mapping) and vol.get("name") and vol.get("mount_path")):
                raise SpecError(f"options.volumes[{i}]", "needs name and mount_path")
            if sum(k in vol for k in ("config_map", "secret", "empty_dir")) != 1:
                raise SpecError(f"options.volumes[{i}]", "needs exactly one of config_map, secret, empty_dir")
        for key in ("resources", "node_selector", "labels", "annotations"):
            if key in opts and not all(isinstance(k, str) for k in opts[key]):
                raise SpecError(f"options.{key}", "keys must be strings")

    # -- life cycle -----------------------------------------------------------------------------
    def _connect(self, ctx: RunContext, kubeconfig: str | None, context: str | None, in_cluster: bool) -> None:
        from kubernetes import client

        _flag(ctx)
        api = ctx.state["api"] = connect(kubeconfig, context, in_cluster)
        remember_cluster(kubeconfig, context, in_cluster)
        ctx.state["core"], ctx.state["batch"] = client.CoreV1Api(api), client.BatchV1Api(api)

    def prepare(self, ctx: RunContext) -> None:
        opts = ctx.options
        self._connect(ctx, opts.get("kubeconfig"), opts.get("context"), bool(opts.get("in_cluster")))
        ctx.state["namespace"] = opts["namespace"]
        ctx.state["selector"] = f"{LABEL_RUN}={ctx.run_id}"

    def start(self, ctx: RunContext) -> None:
        from kubernetes.client import ApiException

        spec, ns = ctx.spec, ctx.state["namespace"]
        core, batch = ctx.state["core"], ctx.state["batch"]
        name = job_name(ctx.run_id)
        labels = managed_labels(ctx.run_id, ctx.execution_id)
        tag = ctx.execution_id or ctx.run_id
        secrets = secret_env(spec)
        secret_name = f"{name}-env" if secrets else None
        if secret_name:
            try:
                core.create_namespaced_secret(ns, build_secret(secret_name, ns, secrets, labels, tag))
            except ApiException as exc:
                raise api_error(f"the Secret for the run's secret environment could not be created in {ns!r}",
                                exc) from None
            ctx.state["secret"] = secret_name
        job = build_job(spec, name=name, namespace=ns, labels=labels, execution_tag=tag,
                        secret_name=secret_name, secret_keys=sorted(secrets))
        try:
            created = batch.create_namespaced_job(ns, job)
        except ApiException as exc:
            raise api_error(f"the Job could not be created in namespace {ns!r}", exc) from None
        ctx.state["job"] = created
        opts = ctx.options
        ctx.set_handle({"kind": "Job", "namespace": ns, "job": name, "uid": created.metadata.uid,
                        "run_id": ctx.run_id, "kubeconfig": opts.get("kubeconfig"), "context": opts.get("context"),
                        "in_cluster": bool(opts.get("in_cluster"))})
        ctx.set_metadata(namespace=ns, job_name=name, job_uid=created.metadata.uid)
        if secret_name:  # owned by the Job: it goes with it, whoever deletes the Job
            try:
                core.patch_namespaced_secret(secret_name, ns, {"metadata": {"ownerReferences": [
                    owner_reference(created)]}})
            except ApiException as exc:
                raise api_error("the run's Secret could not be given its owner reference", exc) from None
        ctx.say(f"created Job {ns}/{name}")  # once all it needs is in place

    def attach(self, ctx: RunContext) -> None:
        """Follow a Job another worker created: from the log cursor it stored (live metadata
        ``log_cursor``, given to ``resume``) on, or from the pod's start without one."""
        from kubernetes.client import ApiException

        handle = ctx.handle or {}
        if handle.get("kind") != "Job" or not handle.get("job") or not handle.get("namespace"):
            raise RunnerError(f"the handle names no Job: {dict(handle)}")
        self._connect(ctx, handle.get("kubeconfig"), handle.get("context"), bool(handle.get("in_cluster")))
        ns, name = str(handle["namespace"]), str(handle["job"])
        ctx.state["namespace"] = ns
        try:
            job = ctx.state["batch"].read_namespaced_job(name, ns)
        except ApiException as exc:
            if exc.status == 404:
                raise RunnerError(f"Job {ns}/{name} no longer exists") from None
            raise api_error(f"Job {ns}/{name} could not be read", exc) from None
        if handle.get("uid") and job.metadata.uid != handle["uid"]:
            raise RunnerError(f"Job {ns}/{name} is another Job than the handle's (uid {job.metadata.uid})")
        ctx.state["job"] = job
        run_id = str(handle.get("run_id") or (job.metadata.labels or {}).get(LABEL_RUN, ""))
        ctx.state["selector"] = f"{LABEL_RUN}={run_id}"
        cursor = ctx.resumed_metadata.get("log_cursor") if ctx.resumed_metadata else None
        if isinstance(cursor, Mapping) and cursor.get("pod"):
            ctx.state["cursor"] = dict(cursor)
            ctx.say(f"re-attached to Job {ns}/{name}; its log goes on after what is stored "
                    f"(pod {cursor['pod']}, cursor {cursor.get('ts')} #{cursor.get('same')})")
        else:
            ctx.say(f"re-attached to Job {ns}/{name}; no log cursor was stored, the log is read from the pod's start")

    def stream(self, ctx: RunContext) -> None:
        """Follow the Job's pods one after the other (a retry is a new pod) until no attempt is left."""
        self._retrying(ctx, "following the Job's pods", self._stream)

    def wait(self, ctx: RunContext) -> Exit:
        return self._retrying(ctx, "waiting for the Job's end", self._wait)  # type: ignore[no-any-return]

    def _retrying(self, ctx: RunContext, what: str, step: Callable[[RunContext], Any]) -> Any:
        """Run ``step``; the API's transient failures (HTTP 5xx, 429, a dropped connection) are
        retried API_RETRIES times with a growing pause (every step can start over: it lists
        what exists first), then the run is an ``error`` with the API's message."""
        from kubernetes.client import ApiException
        from urllib3.exceptions import HTTPError

        for attempt in range(API_RETRIES + 1):
            try:
                return step(ctx)
            except ApiException as exc:
                if not (exc.status is not None and (exc.status >= 500 or exc.status == 429)) or attempt == API_RETRIES:
                    raise api_error(f"the cluster's API failed while {what}", exc) from None
                problem = api_message(exc)
            except HTTPError as exc:
                if self._stopping(ctx):
                    return None if what.startswith("following") else Exit()
                if attempt == API_RETRIES:
                    raise RunnerError(f"the cluster's API could not be reached while {what}: {exc}") from None
                problem = str(exc)
            ctx.say(f"the cluster's API failed while {what} ({problem}); retrying")
            if ctx.wait_stop(min(8.0, 0.5 * 2 ** attempt)) is not None:
                return None if what.startswith("following") else Exit()
        return None

    def _stream(self, ctx: RunContext) -> None:
        followed: set[str] = set(ctx.state.get("cursor", {}).get("followed", []))
        failures = len(followed)
        backoff_limit = int(ctx.options.get("backoff_limit") or 0)
        while not self._stopping(ctx):
            pod = self._next_pod(ctx, followed)
            if pod is None:
                return
            ctx.state["followed"] = sorted(followed)  # the pods done before this one, for the cursor
            followed.add(pod.metadata.name)
            ctx.state["pod"] = pod
            self._follow_log(ctx, pod)
            current = self._refresh_pod(ctx)
            gone = current is None or current.metadata.deletion_timestamp is not None or current.status.reason == "Evicted"
            if gone and not self._stopping(ctx) and not self._job_done(ctx, settle=GONE_SETTLE):
                # Not the Job controller's doing (a deadline, a finished Job): someone else's.
                ctx.state["gone"] = pod_gone_reason(pod.metadata.name, current)
                return
            term = terminated(current) if current is not None else None
            if term is not None and term.exit_code == 0:
                return  # one completion is all the Job needs
            failures += 1
            if failures > backoff_limit or self._job_done(ctx):
                return  # no retry will come

    def _wait(self, ctx: RunContext) -> Exit:
        if ctx.state.get("fatal"):
            return Exit(error=ctx.state["fatal"], metadata=self._pod_metadata(ctx))
        if self._stopping(ctx):
            return Exit(metadata=self._pod_metadata(ctx))
        if ctx.state.get("gone"):
            meta = self._pod_metadata(ctx)
            meta["pod_gone"] = True
            return Exit(status=Status.FAILED, reason=ctx.state["gone"], metadata=meta)
        job = self._wait_job(ctx)
        if job is None:  # stopped while waiting; the base says why
            return Exit(metadata=self._pod_metadata(ctx))
        pod = self._refresh_pod(ctx)
        outcome = job_outcome(job, pod)
        meta = self._pod_metadata(ctx)
        meta["attempts"] = (job.status.failed or 0) + (job.status.succeeded or 0)
        if outcome.oom_killed:
            meta["oom_killed"] = True
        status = Status.TIMEOUT if outcome.status == "timeout" else None
        return Exit(exit_code=outcome.exit_code, reason=outcome.reason, status=status, metadata=meta)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        _flag(ctx).set()
        for name in ("follower", "watch"):  # the step blocked reading a stream returns at once
            stream = ctx.state.get(name)
            if stream is not None:
                stream.interrupt() if name == "follower" else stream.stop()
        if ctx.state.get("job") is None:
            return Stop(True, "no Job had been created")
        # The kubelet confirms a pod's end a moment after the grace period: what is not
        # confirmed within TERMINATE_CONFIRM is confirmed in cleanup (ctx.confirm_stop).
        return self._delete(ctx, grace, ctx.options.get("propagation") or "Foreground",
                            confirm_within=grace + TERMINATE_CONFIRM)

    def cleanup(self, ctx: RunContext) -> None:
        api = ctx.state.get("api")
        try:
            job = ctx.state.get("job")
            keep = bool(ctx.options.get("keep_job"))
            if job is not None and not keep and not ctx.state.get("deleted"):
                stop = self._delete(ctx, grace=ctx.spec.grace_period, propagation="Foreground")
                if not stop.confirmed:
                    ctx.metadata["cleanup_error"] = stop.detail
            elif job is not None and ctx.metadata.get("stop_confirmed") is False:
                gone = wait_gone(ctx.state["core"], ctx.state["batch"], ctx.state["namespace"], job.metadata.name,
                                 ctx.state["selector"], CONFIRM_SECONDS)
                if gone:
                    ctx.confirm_stop(f"deleted Job {ctx.state['namespace']}/{job.metadata.name} "
                                     f"(grace {math.ceil(ctx.spec.grace_period)}s); its pods are gone")
            secret = ctx.state.get("secret")
            if secret and (job is None or not keep):
                self._delete_secret(ctx, secret)
        finally:
            if api is not None:
                api.close()

    # -- hooks: a Job known only by its handle, and what crashed workers left -----------------
    @classmethod
    def probe(cls, handle: Mapping[str, Any]) -> Liveness:
        """ALIVE while the handle's Job exists and is not being deleted (running, or finished
        with its result still to record); GONE once deleted or deleting; UNKNOWN when the
        cluster does not answer."""
        from kubernetes import client
        from kubernetes.client import ApiException

        try:
            api = connect(handle.get("kubeconfig"), handle.get("context"), bool(handle.get("in_cluster")))
        except RunnerError:
            return Liveness.UNKNOWN
        try:
            job: Any = client.BatchV1Api(api).read_namespaced_job(str(handle.get("job")), str(handle.get("namespace")),
                                                             _request_timeout=10)
            if handle.get("uid") and job.metadata.uid != handle["uid"]:
                return Liveness.GONE
            return Liveness.GONE if job.metadata.deletion_timestamp is not None else Liveness.ALIVE
        except ApiException as exc:
            return Liveness.GONE if exc.status == 404 else Liveness.UNKNOWN
        except Exception:
            return Liveness.UNKNOWN
        finally:
            api.close()

    @classmethod
    def stop_handle(cls, handle: Mapping[str, Any], grace: float) -> Stop:
        """Delete the handle's Job and its pods with ``grace`` and confirm they are gone."""
        try:
            api = connect(handle.get("kubeconfig"), handle.get("context"), bool(handle.get("in_cluster")))
        except RunnerError as exc:
            return Stop(False, str(exc))
        from kubernetes import client

        try:
            return delete_run(client.CoreV1Api(api), client.BatchV1Api(api), str(handle.get("namespace")),
                              str(handle.get("job")),
                              f"{LABEL_RUN}={handle.get('run_id')}" if handle.get("run_id") else None,
                              grace, "Foreground", grace + CONFIRM_SECONDS)
        except Exception as exc:
            return Stop(False, f"deleting Job {handle.get('namespace')}/{handle.get('job')} failed: {exc}")
        finally:
            api.close()

    @classmethod
    def sweep(cls, is_active: Callable[[str], bool]) -> list[str]:
        """Remove runwright's Jobs, pods and Secrets (by label) whose execution is not active, on
        the clusters of the settings and those this process used; nothing when none is known.
        Raises RunnerError when a cluster does not answer."""
        return sweep_clusters(is_active)

    # -- stopping -----------------------------------------------------------------------------
    def _delete(self, ctx: RunContext, grace: float, propagation: str, confirm_within: float | None = None) -> Stop:
        ctx.state["deleted"] = True
        if ctx.state.get("fatal"):
            # The container never started (its image, its config, no node): no process to give a
            # grace period to. Deleted at once: the v1.20 kubelet took over 30 s to remove a pod
            # stuck on InvalidImageName with a grace period, and the stop went unconfirmed.
            grace = 0
        return delete_run(ctx.state["core"], ctx.state["batch"], ctx.state["namespace"], ctx.state["job"].metadata.name,
                          ctx.state["selector"], grace, propagation,
                          grace + CONFIRM_SECONDS if confirm_within is None else confirm_within)

    def _stopping(self, ctx: RunContext) -> bool:
        return bool(_flag(ctx).is_set() or ctx.check_stop() is not None)

    # -- following pods -------------------------------------------------------------------------
    def _next_pod(self, ctx: RunContext, followed: set[str]) -> Any | None:
        """The next pod of the Job whose container has started; None when the Job ended, the run
        stops, or the container cannot start (``ctx.state["fatal"]`` says why)."""
        core, ns, selector = ctx.state["core"], ctx.state["namespace"], ctx.state["selector"]
        limit = float(ctx.options.get("unschedulable_timeout") or 60.0)
        unschedulable_since: dict[str, float] = {}
        found: list[Any] = []

        def examine(pod: Any) -> bool:
            name = pod.metadata.name
            self._phase_event(ctx, pod)
            if name in followed:
                return False
            if pod.spec is not None and pod.spec.node_name and name != ctx.state.get("scheduled"):
                ctx.state["scheduled"] = name
                ctx.set_metadata(pod=name, node=pod.spec.node_name)
            fatal = fatal_waiting(pod)
            if fatal:
                ctx.state["fatal"] = f"pod {name}: {fatal}"
                ctx.state["pod"] = pod
                return True
            why = unschedulable(pod)
            if why:
                first = unschedulable_since.setdefault(name, time.monotonic())
                if time.monotonic() - first >= limit:
                    ctx.state["fatal"] = f"pod {name} could not be scheduled within {limit:g}s: {why}"
                    ctx.state["pod"] = pod
                    return True
            if started(pod) or (pod.status is not None and pod.status.phase in ("Failed", "Succeeded")):
                found.append(pod)
                return True
            return False

        while not self._stopping(ctx):
            pods = core.list_namespaced_pod(ns, label_selector=selector)
            for pod in sorted(pods.items, key=lambda p: p.metadata.creation_timestamp):
                if examine(pod):
                    return found[0] if found else None
            if self._job_done(ctx) and not [p for p in pods.items if p.metadata.name not in followed]:
                return None
            self._watch_api(ctx, core.list_namespaced_pod, ns, label_selector=selector,
                        resource_version=pods.metadata.resource_version, seconds=_watch_seconds(ctx, unschedulable_since),
                        until=lambda ev: ev["type"] != "DELETED" and examine(ev["object"]))
            if found or ctx.state.get("fatal"):
                return found[0] if found else None
        return None

    def _phase_event(self, ctx: RunContext, pod: Any) -> None:
        """A ``kubernetes.pod`` event each time a pod's phase (or its container's state) changes."""
        event = pod_phase_event(pod)
        seen = ctx.state.setdefault("phases", {})
        key = (event["phase"], event.get("container"), event.get("reason"))
        if seen.get(event["pod"]) != key:
            seen[event["pod"]] = key
            ctx.event("kubernetes.pod", event)

    def _follow_log(self, ctx: RunContext, pod: Any) -> None:
        core, ns, name = ctx.state["core"], ctx.state["namespace"], pod.metadata.name
        cursor = ctx.state.get("cursor") or {}
        after = tuple(cursor["ts"]) if cursor.get("pod") == name and cursor.get("ts") else None

        def done() -> bool:
            if self._stopping(ctx):
                return True
            current = self._read_pod(ctx, name)
            return current is None or terminated(current) is not None or current.status.phase in ("Failed", "Succeeded")

        def emit(data: bytes) -> None:
            ctx.emit("stdout", data)
            # The cursor goes with every batch, so a worker that takes over never repeats what
            # is stored (see kubernetes_logs and the README).
            last, same = follower.emitted
            cursor = {"pod": name, "ts": list(last or (0, 0)), "same": same, "followed": ctx.state.get("followed", [])}
            ctx.state["cursor"] = cursor  # a retried stream step goes on after it too
            ctx.set_metadata(log_cursor=cursor)

        follower = LogFollower(core, ns, name, CONTAINER, emit, done, after=after,  # type: ignore[arg-type]
                               same=int(cursor.get("same", 0)) if after else 0)
        ctx.state["follower"] = follower
        if self._stopping(ctx):
            return
        follower.follow()
        if follower.resumes:
            ctx.set_metadata(log_resumes=ctx.metadata.get("log_resumes", 0) + follower.resumes)

    def _wait_job(self, ctx: RunContext) -> Any | None:
        """Wait for the Job's Complete or Failed condition; None if the run stops first."""
        batch, ns, name = ctx.state["batch"], ctx.state["namespace"], ctx.state["job"].metadata.name
        result: list[Any] = []
        while not self._stopping(ctx):
            jobs = batch.list_namespaced_job(ns, field_selector=f"metadata.name={name}")
            if not jobs.items:
                raise RunnerError(f"Job {ns}/{name} was deleted by someone else before it finished")
            if job_finished(jobs.items[0]):
                return jobs.items[0]

            def finished(ev: dict[str, Any]) -> bool:
                if ev["type"] == "DELETED":
                    raise RunnerError(f"Job {ns}/{name} was deleted by someone else before it finished")
                if job_finished(ev["object"]):
                    result.append(ev["object"])
                    return True
                return False

            self._watch_api(ctx, batch.list_namespaced_job, ns, field_selector=f"metadata.name={name}",
                        resource_version=jobs.metadata.resource_version, seconds=WATCH_SECONDS, until=finished)
            if result:
                return result[0]
        return None

    def _job_done(self, ctx: RunContext, settle: float = 0.0) -> bool:
        """Whether the Job has its Complete or Failed condition (or is gone); with ``settle``,
        give the Job controller that many seconds to record it."""
        from kubernetes.client import ApiException

        batch, ns, name = ctx.state["batch"], ctx.state["namespace"], ctx.state["job"].metadata.name
        deadline = time.monotonic() + settle
        while True:
            try:
                if job_finished(batch.read_namespaced_job(name, ns)) is not None:
                    return True
            except ApiException as exc:
                if exc.status == 404:
                    return True
                raise
            if time.monotonic() >= deadline or ctx.wait_stop(0.2) is not None:
                return False

    def _watch_api(self, ctx: RunContext, func: Callable[..., Any], *args: Any, seconds: float,
               until: Callable[[dict[str, Any]], bool], **kwargs: Any) -> None:
        """Watch ``func`` for at most ``seconds``, until ``until(event)`` is true or the run stops."""
        from kubernetes import watch
        from kubernetes.client import ApiException

        w = ctx.state["watch"] = watch.Watch()
        if self._stopping(ctx):
            return
        try:
            for ev in w.stream(func, *args, timeout_seconds=max(1, int(seconds)),
                               _request_timeout=seconds + 10, **kwargs):
                if ev["type"] == "ERROR":
                    return  # 410 Gone and the like: the caller lists again
                if until(ev) or self._stopping(ctx):
                    return
        except ApiException as exc:
            if exc.status != 410:
                raise
        finally:
            w.stop()

    def _read_pod(self, ctx: RunContext, name: str) -> Any | None:
        from kubernetes.client import ApiException

        try:
            return ctx.state["core"].read_namespaced_pod(name, ctx.state["namespace"])
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _refresh_pod(self, ctx: RunContext) -> Any | None:
        pod = ctx.state.get("pod")
        if pod is None:
            return None
        current = self._read_pod(ctx, pod.metadata.name)
        if current is not None:
            ctx.state["pod"] = current
            self._phase_event(ctx, current)
        return current

    def _pod_metadata(self, ctx: RunContext) -> dict[str, Any]:
        pod = ctx.state.get("pod")
        if pod is None:
            return {}
        meta: dict[str, Any] = {"pod": pod.metadata.name}
        if pod.spec is not None and pod.spec.node_name:
            meta["node"] = pod.spec.node_name
        return meta

    def _delete_secret(self, ctx: RunContext, name: str) -> None:
        from kubernetes.client import ApiException

        try:
            ctx.state["core"].delete_namespaced_secret(name, ctx.state["namespace"])
        except ApiException as exc:
            if exc.status != 404:
                raise RunnerError(f"the run's Secret {name} could not be deleted: {api_message(exc)}") from None


# -- helpers --------------------------------------------------------------------------------------
def _flag(ctx: RunContext) -> threading.Event:
    """The run's own stop flag (set by terminate, from any thread, in any phase)."""
    flag = ctx.state.get("stopping")
    if flag is None:
        flag = ctx.state.setdefault("stopping", threading.Event())
    return flag  # type: ignore[no-any-return]


def _watch_seconds(ctx: RunContext, unschedulable_since: dict[str, float]) -> float:
    """Watch no longer than the Unschedulable wait left, so it is enforced on time."""
    if not unschedulable_since:
        return WATCH_SECONDS
    limit = float(ctx.options.get("unschedulable_timeout") or 60.0)
    left = limit - (time.monotonic() - min(unschedulable_since.values()))
    return max(1.0, min(WATCH_SECONDS, math.ceil(left)))


__all__ = ["KubernetesRunner"]
