"""KubernetesDeployRunner (``runner="kubernetes-deploy"``): the deploy operations a CI/CD
platform runs with ``kubectl``, done through the API and recorded like any run.

``options.action`` says which: ``apply`` (multi-document YAML, server-side apply, optionally a
dry run and a wait for the Deployments' rollouts), ``rollout`` (wait for a Deployment's rollout),
``scale``, ``delete`` (the manifests' objects, or one by kind and name) and ``logs`` (a pod's, or
those of the pods a label selector matches). The live log says what changed, one line per object
(``deployment.apps/web configured``); Secret manifests' data never reaches it nor the stored
spec: the ``manifests`` option's Secret values are the run's secrets (kubernetes_manifests.
secret_values, through the option's ``secrets``), masked in clear, in base64 and as spelled.

Statuses: ``success``; ``error`` for a manifest that does not parse, a kind the cluster does not
know or an object it refuses (naming the document and the field); ``timeout`` for a rollout that
does not complete within ``rollout_timeout`` or the run's timeout (with the Deployment's
conditions); ``failed`` for a rollout Kubernetes gave up on (ProgressDeadlineExceeded).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from runwright.runners.base import Exit, RunContext, Runner, RunnerError
from runwright.runners.hooks import Stop
from runwright.runners.kubernetes_api import api_message, connect
from runwright.runners.kubernetes_manifests import Manifest, parse_manifests, secret_values
from runwright.runners.options import INT32_MAX, Option
from runwright.runners.spec import MAX_DURATION, RunSpec, SpecError
from runwright.runners.status import Status

ACTIONS = ("apply", "rollout", "scale", "delete", "logs")
SCALABLE = {"Deployment": "deployment", "StatefulSet": "stateful_set", "ReplicaSet": "replica_set"}
FIELD_MANAGER = "runwright"
#: Seconds between two looks at a Deployment's rollout, or at objects being deleted.
POLL = 0.5
#: Seconds before the run's deadline at which a rollout wait gives up with the conditions.
RUN_MARGIN = 1.0


class KubernetesDeployRunner(Runner):
    """Apply, roll out, scale, delete and read logs through the Kubernetes API."""

    name = "kubernetes-deploy"
    command = "none"
    #: Deleting what the run made may wait on the engine, the cluster or the server.
    cleanup_seconds = 60.0
    options = (
        Option("action", str, required=True, choices=ACTIONS, help="The operation."),
        Option("kubeconfig", str, help="Kubeconfig file of the cluster (with `context`)."),
        Option("context", str, help="Context in the kubeconfig; the file's current context is never used."),
        Option("in_cluster", bool, default=False, help="Use the service account of the pod the worker runs in."),
        Option("namespace", str, default="default", help="Namespace of objects that name none."),
        Option("manifests", str, secrets=secret_values,
               help="YAML, several documents allowed (apply, delete). The values of Secret documents "
                    "are masked everywhere."),
        Option("dry_run", bool, default=False, help="Ask the API server to check without persisting (apply, delete)."),
        Option("force_conflicts", bool, default=True,
               help="Take over fields another manager owns (server-side apply's force)."),
        Option("wait", bool, default=False,
               help="apply/scale: wait for the Deployments' rollouts; delete: wait until the objects are gone."),
        Option("rollout_timeout", (int, float), minimum=0.001, maximum=MAX_DURATION,
               help="Seconds a rollout may take (default: the run's timeout)."),
        Option("kind", str, default="Deployment", help="Kind of the object named by `name` (scale, delete)."),
        Option("name", str, help="The object (rollout, scale, delete) or pod (logs) to act on."),
        Option("replicas", int, minimum=0, maximum=INT32_MAX, help="Replicas to scale to."),
        Option("selector", str, help="Label selector of the pods whose logs to fetch."),
        Option("container", str, help="Container whose log to fetch (default: the pod's only one)."),
        Option("tail_lines", int, minimum=0, maximum=INT32_MAX, help="Only the last N lines of each log."),
    )

    # -- validation ---------------------------------------------------------------------------
    def validate(self, spec: RunSpec) -> None:
        super().validate(spec)
        opts = spec.options
        action = opts["action"]
        if not opts.get("in_cluster"):
            for key in ("kubeconfig", "context"):
                if not opts.get(key):
                    raise SpecError(f"options.{key}", "is required (the cluster is named explicitly), "
                                    "or set options.in_cluster")
        if action == "apply" and not opts.get("manifests"):
            raise SpecError("options.manifests", "is required for action apply")
        if "manifests" in opts:
            parse_manifests(opts["manifests"])  # names the document and the field
        if action in ("rollout", "scale") and not opts.get("name"):
            raise SpecError("options.name", f"is required for action {action}")
        if action == "scale":
            if opts.get("replicas") is None:
                raise SpecError("options.replicas", "is required for action scale")
            if opts.get("kind", "Deployment") not in SCALABLE:
                raise SpecError("options.kind", f"must be one of {', '.join(SCALABLE)} to scale")
        if action == "delete" and not (opts.get("manifests") or opts.get("name")):
            raise SpecError("options.name", "or options.manifests is required for action delete")
        if action == "logs" and not (opts.get("name") or opts.get("selector")):
            raise SpecError("options.name", "(a pod) or options.selector is required for action logs")

    # -- life cycle -----------------------------------------------------------------------------
    def prepare(self, ctx: RunContext) -> None:
        opts = ctx.options
        ctx.state["stopping"] = threading.Event()
        # The Secret documents' values are the run's secrets (the option's ``secrets``): masked
        # in the stored spec, and in everything said below, before anything is sent.
        ctx.state["docs"] = parse_manifests(opts["manifests"]) if opts.get("manifests") else []
        ctx.state["api"] = connect(opts.get("kubeconfig"), opts.get("context"), bool(opts.get("in_cluster")))

    def start(self, ctx: RunContext) -> None:
        ctx.state["outcome"] = getattr(self, f"_{ctx.options['action']}")(ctx)

    def stream(self, ctx: RunContext) -> None:
        return None  # each action reports as it goes, in start

    def wait(self, ctx: RunContext) -> Exit:
        outcome = ctx.state.get("outcome")
        return outcome if isinstance(outcome, Exit) else Exit(exit_code=0, metadata=ctx.state.get("meta", {}))

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        flag = ctx.state.get("stopping")
        if flag is not None:
            flag.set()
        return Stop(True, "stopped the operation between two API calls; what was already applied stays")

    def cleanup(self, ctx: RunContext) -> None:
        api = ctx.state.pop("api", None)
        if api is not None:
            api.close()

    # -- the actions ------------------------------------------------------------------------------
    def _apply(self, ctx: RunContext) -> Exit | None:
        from kubernetes.client import ApiException

        dyn = self._dynamic(ctx)
        dry = ctx.options["dry_run"]
        suffix = " (server dry run)" if dry else ""
        changed: list[dict[str, Any]] = []
        for doc in ctx.state["docs"]:
            self._check_stop(ctx)
            resource = self._resource(dyn, doc)
            ns = (doc.namespace or ctx.options["namespace"]) if resource.namespaced else None
            before = self._get(dyn, resource, doc.name, ns)
            try:
                after = dyn.server_side_apply(resource, body=doc.body, name=doc.name, namespace=ns,
                                              field_manager=FIELD_MANAGER, force_conflicts=ctx.options["force_conflicts"],
                                              dry_run="All" if dry else None)
            except ApiException as exc:
                raise RunnerError(f"{doc.label()} was refused: {api_message(exc)}") from None
            if before is None:
                verb = "created"
            elif after.metadata.resourceVersion == before.metadata.resourceVersion:
                verb = "unchanged"
            else:
                verb = "configured"
            what = f"{_ref(resource, doc.name)}"
            ctx.say(f"{what} {verb}{suffix}")
            change = {"document": doc.index, "kind": doc.kind, "name": doc.name, "namespace": ns, "result": verb,
                      "dry_run": dry}
            ctx.event("kubernetes.applied", change)
            changed.append(change)
        ctx.state["meta"] = {"applied": changed}
        if ctx.options["wait"] and not dry:
            for doc in ctx.state["docs"]:
                if doc.kind == "Deployment":
                    outcome = self._wait_rollout(ctx, doc.name, doc.namespace or ctx.options["namespace"])
                    if outcome is not None:
                        return outcome
        return None

    def _rollout(self, ctx: RunContext) -> Exit | None:
        return self._wait_rollout(ctx, ctx.options["name"], ctx.options["namespace"])

    def _scale(self, ctx: RunContext) -> Exit | None:
        from kubernetes import client
        from kubernetes.client import ApiException

        kind, name, ns, replicas = ctx.options["kind"], ctx.options["name"], ctx.options["namespace"], ctx.options["replicas"]
        apps = client.AppsV1Api(ctx.state["api"])
        suffix = SCALABLE[kind]
        try:
            current = getattr(apps, f"read_namespaced_{suffix}_scale")(name, ns)
            getattr(apps, f"patch_namespaced_{suffix}_scale")(name, ns, {"spec": {"replicas": replicas}})
        except ApiException as exc:
            raise RunnerError(f"{kind} {ns}/{name} could not be scaled: {api_message(exc)}") from None
        before = current.spec.replicas
        ctx.say(f"{kind.lower()}.apps/{name} scaled from {before} to {replicas}")
        ctx.event("kubernetes.scaled", {"kind": kind, "name": name, "namespace": ns, "from": before, "to": replicas})
        ctx.state["meta"] = {"replicas": {"from": before, "to": replicas}}
        if ctx.options["wait"] and kind == "Deployment":
            return self._wait_rollout(ctx, name, ns)
        return None

    def _delete(self, ctx: RunContext) -> Exit | None:
        from kubernetes.client import ApiException

        dyn = self._dynamic(ctx)
        dry = ctx.options["dry_run"]
        targets: list[tuple[Any, str, str | None]] = []
        for doc in ctx.state["docs"]:
            resource = self._resource(dyn, doc)
            targets.append((resource, doc.name, (doc.namespace or ctx.options["namespace"]) if resource.namespaced else None))
        if not ctx.state["docs"]:
            kind = ctx.options["kind"]
            try:
                resource = dyn.resources.get(kind=kind)
            except Exception as exc:
                raise RunnerError(f"options.kind: kind {kind!r} is not known to the cluster ({exc})") from None
            targets.append((resource, ctx.options["name"], ctx.options["namespace"] if resource.namespaced else None))
        deleted: list[dict[str, Any]] = []
        for resource, name, ns in targets:
            self._check_stop(ctx)
            try:
                dyn.delete(resource, name=name, namespace=ns, body={"propagationPolicy": "Foreground"},
                           dry_run="All" if dry else None)
                verb = "deleted" + (" (server dry run)" if dry else "")
            except ApiException as exc:
                if exc.status != 404:
                    raise RunnerError(f"{_ref(resource, name)} could not be deleted: {api_message(exc)}") from None
                verb = "not found"
            ctx.say(f"{_ref(resource, name)} {verb}")
            ctx.event("kubernetes.deleted", {"kind": resource.kind, "name": name, "namespace": ns, "result": verb})
            deleted.append({"kind": resource.kind, "name": name, "namespace": ns, "result": verb})
        ctx.state["meta"] = {"deleted": deleted}
        if ctx.options["wait"] and not dry:
            for resource, name, ns in targets:
                while self._get(dyn, resource, name, ns) is not None:
                    if ctx.wait_stop(POLL) is not None:
                        return None
                ctx.say(f"{_ref(resource, name)} is gone")
        return None

    def _logs(self, ctx: RunContext) -> Exit | None:
        from kubernetes import client
        from kubernetes.client import ApiException

        core: Any = client.CoreV1Api(ctx.state["api"])
        ns = ctx.options["namespace"]
        if ctx.options.get("name"):
            pods = [ctx.options["name"]]
        else:
            try:
                items = core.list_namespaced_pod(ns, label_selector=ctx.options["selector"]).items
            except ApiException as exc:
                raise RunnerError(f"options.selector: the pods could not be listed: {api_message(exc)}") from None
            if not items:
                raise RunnerError(f"no pod in namespace {ns!r} matches the selector {ctx.options['selector']!r}")
            pods = sorted(p.metadata.name for p in items)
        kwargs: dict[str, Any] = {"_preload_content": False}
        if ctx.options.get("container"):
            kwargs["container"] = ctx.options["container"]
        if ctx.options.get("tail_lines") is not None:
            kwargs["tail_lines"] = ctx.options["tail_lines"]
        for pod in pods:
            self._check_stop(ctx)
            if len(pods) > 1:
                ctx.say(f"==> pod {pod} <==")
            try:
                resp = core.read_namespaced_pod_log(pod, ns, **kwargs)
            except ApiException as exc:
                raise RunnerError(f"the log of pod {ns}/{pod} could not be read: {api_message(exc)}") from None
            try:
                for chunk in resp.stream(256 * 1024, decode_content=False):
                    ctx.emit("stdout", chunk)
            finally:
                resp.release_conn()
        ctx.state["meta"] = {"pods": pods}
        return None

    # -- rollouts ---------------------------------------------------------------------------------
    def _wait_rollout(self, ctx: RunContext, name: str, ns: str) -> Exit | None:
        """Wait like ``kubectl rollout status``: None once complete; a timeout or failed Exit."""
        from kubernetes import client
        from kubernetes.client import ApiException

        apps = client.AppsV1Api(ctx.state["api"])
        limit: float | None = ctx.options.get("rollout_timeout")
        which = "rollout_timeout"
        remaining = ctx.remaining()
        # Within the run's own timeout, end a moment before it, so the result carries the
        # Deployment's conditions rather than only "timed out".
        if remaining is not None and (limit is None or remaining - RUN_MARGIN < float(limit)):
            limit, which = max(0.0, remaining - RUN_MARGIN), "the run's timeout"
        deadline = time.monotonic() + float(limit) if limit is not None else None
        said = ""
        while True:
            try:
                dep = apps.read_namespaced_deployment(name, ns)
            except ApiException as exc:
                raise RunnerError(f"deployment.apps/{name} could not be read: {api_message(exc)}") from None
            state, done = rollout_state(dep)
            if state != said:
                ctx.say(f"deployment.apps/{name}: {state}")
                said = state
            if done:
                ctx.event("kubernetes.rollout", {"name": name, "namespace": ns, "result": "complete"})
                return None
            failed = _condition(dep, "Progressing")
            if failed is not None and failed.reason == "ProgressDeadlineExceeded":
                return Exit(status=Status.FAILED, reason=f"deployment.apps/{name} rollout failed: "
                            f"{describe_conditions(dep)}", metadata=ctx.state.get("meta", {}))
            if deadline is not None and time.monotonic() >= deadline:
                return Exit(status=Status.TIMEOUT, reason=f"deployment.apps/{name} did not become available within "
                            f"{limit or 0:.0f}s ({which}): {state}; conditions: {describe_conditions(dep)}",
                            metadata=ctx.state.get("meta", {}))
            if ctx.wait_stop(POLL) is not None:
                ctx.state["rollout_conditions"] = describe_conditions(dep)
                ctx.say(f"deployment.apps/{name} conditions: {describe_conditions(dep)}")
                return None

    # -- helpers ----------------------------------------------------------------------------------
    def _dynamic(self, ctx: RunContext) -> Any:
        from kubernetes.dynamic import DynamicClient

        if "dynamic" not in ctx.state:
            ctx.state["dynamic"] = DynamicClient(ctx.state["api"])
        return ctx.state["dynamic"]

    def _resource(self, dyn: Any, doc: Manifest) -> Any:
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        try:
            return dyn.resources.get(api_version=doc.api_version, kind=doc.kind)
        except ResourceNotFoundError:
            raise RunnerError(f"options.manifests: {doc.label()}: kind {doc.kind!r} (apiVersion {doc.api_version!r}) "
                              "is not known to the cluster") from None

    def _get(self, dyn: Any, resource: Any, name: str, ns: str | None) -> Any | None:
        from kubernetes.client import ApiException

        try:
            return dyn.get(resource, name=name, namespace=ns)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise RunnerError(f"{_ref(resource, name)} could not be read: {api_message(exc)}") from None

    def _check_stop(self, ctx: RunContext) -> None:
        if ctx.state["stopping"].is_set() or ctx.check_stop() is not None:
            raise RunnerError("stopped before the next object")


def rollout_state(dep: Any) -> tuple[str, bool]:
    """(what the rollout is at, whether it is complete), in ``kubectl rollout status``' terms."""
    spec_replicas = dep.spec.replicas if dep.spec.replicas is not None else 1
    st = dep.status
    if (dep.metadata.generation or 0) > (st.observed_generation or 0):
        return "waiting for the deployment spec update to be observed", False
    updated, total = st.updated_replicas or 0, st.replicas or 0
    available = st.available_replicas or 0
    if updated < spec_replicas:
        return f"{updated} of {spec_replicas} updated replicas", False
    if total > updated:
        return f"{total - updated} old replicas pending termination", False
    if available < updated:
        return f"{available} of {updated} updated replicas available", False
    return f"successfully rolled out ({available} available)", True


def _condition(dep: Any, kind: str) -> Any | None:
    for cond in dep.status.conditions or []:
        if cond.type == kind:
            return cond
    return None


def describe_conditions(dep: Any) -> str:
    """``Available=False (MinimumReplicasUnavailable: ...); Progressing=True (...)``."""
    parts = [f"{c.type}={c.status} ({c.reason}: {c.message})" for c in dep.status.conditions or []]
    return "; ".join(parts) or "none reported"


def _ref(resource: Any, name: str) -> str:
    group = resource.group
    return f"{resource.kind.lower()}{'.' + group if group else ''}/{name}"


__all__ = ["KubernetesDeployRunner", "describe_conditions", "rollout_state"]
