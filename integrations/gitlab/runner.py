"""GitLabRunner: trigger a GitLab pipeline for a ref, follow its jobs, stream each job's
trace, record the result.

Life cycle: ``start`` creates the pipeline (``POST /projects/:id/pipeline`` with the ref and
variables) and reports the handle (server, project, pipeline id) at once; ``stream`` polls
the pipeline and its jobs (every page), reports each status change as an event, and streams
each job's trace from where the previous read ended, under a line naming the job (a
section); ``wait`` maps the final status (statuses.py) and says which jobs failed.
``terminate`` cancels the pipeline and confirms it. A pipeline outlives its worker: the
policy is REATTACH, and ``probe``/``stop_handle``/``sweep`` work from the handle or the server.

Credentials: ``options.token``, else ``RUNWRIGHT_GITLAB_TOKEN`` from the worker's
environment (for the server ``RUNWRIGHT_GITLAB_URL``, also the default ``options.url``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from runwright.integrations.gitlab.client import GitLabClient
from runwright.integrations.gitlab.statuses import ACTIVE, FINISHED, TRACED, exit_for, latest_attempts
from runwright.integrations.remote_ci import Backoff, RemoteError, Retrier, Utf8Carry, refuse_local_fields
from runwright.integrations.remote_ci.polling import MAX_POLL, MAX_RETRIES
from runwright.integrations.remote_ci.text import parameter_text
from runwright.integrations.remote_ci.urls import check_server_url
from runwright.runners import (
    Exit,
    Liveness,
    OnWorkerLost,
    Option,
    RunContext,
    Runner,
    RunnerError,
    RunSpec,
    SpecError,
    Stop,
    worker_lost_option,
)
from runwright.runners.options import INT64_MAX

#: A running job's unfinished line is held back until its end comes, up to this many bytes.
MAX_HELD_LINE = 64 * 1024
ENV_URL, ENV_TOKEN, ENV_PROJECTS = "RUNWRIGHT_GITLAB_URL", "RUNWRIGHT_GITLAB_TOKEN", "RUNWRIGHT_GITLAB_PROJECTS"
DEFAULT_TAG_VARIABLE = "RUNWRIGHT_EXECUTION"
HOOK_TIMEOUT = 10.0


class GitLabRunner(Runner):
    """A GitLab pipeline, created and followed through the REST API."""

    name = "gitlab"
    command = "none"
    on_worker_lost = OnWorkerLost.REATTACH
    #: Deleting what the run made may wait on the engine, the cluster or the server.
    cleanup_seconds = 30.0
    options = (
        Option("project", (str, int), required=True, minimum=1, maximum=INT64_MAX,
               help="Project path (`group/app`) or numeric id."),
        Option("ref", str, required=True, help="Branch or tag to run the pipeline for."),
        Option("url", str, help=f"GitLab URL (default: ${ENV_URL})."),
        Option("variables", dict, default={}, help="Pipeline variables {KEY: value}."),
        Option("masked_variables", dict, default={}, secret=True,
               help="Pipeline variables that hold passwords or tokens."),
        Option("token", str, secret=True, help=f"Access token with the api scope (default: ${ENV_TOKEN})."),
        Option("traces", bool, default=True, help="Stream each job's trace (false: statuses only)."),
        Option("poll_interval", (int, float), default=1.0, minimum=0.001, maximum=MAX_POLL,
               help="Seconds between polls after a change."),
        Option("max_poll_interval", (int, float), default=10.0, minimum=0.001, maximum=MAX_POLL,
               help="Longest pause between polls while nothing changes (the interval grows 1.5x per quiet poll)."),
        Option("retries", int, default=5, minimum=0, maximum=MAX_RETRIES,
               help="Retries of a request after a connection error, 429 or 5xx (honouring Retry-After)."),
        Option("request_timeout", (int, float), default=30.0, minimum=0.001, maximum=MAX_POLL,
               help="Seconds to wait for one answer of the server."),
        Option("tag_variable", str, default=DEFAULT_TAG_VARIABLE,
               help="Variable given the run's execution tag, so the sweep finds the pipeline (empty: none)."),
        worker_lost_option(),
    )

    # -- validation -------------------------------------------------------------------------
    def validate(self, spec: RunSpec) -> None:
        super().validate(spec)
        opts = spec.options
        if not str(opts.get("project", "")).strip("/"):
            raise SpecError("options.project", "must be a project path like group/app or its id")
        if not opts.get("ref"):
            raise SpecError("options.ref", "must name a branch or a tag")
        check_server_url(opts.get("url"), ENV_URL, os.environ.get(ENV_URL), "https://gitlab.example.com")
        for field in ("variables", "masked_variables"):
            for key, value in (opts.get(field) or {}).items():
                if not isinstance(value, (str, int, float, bool)):
                    raise SpecError(f"options.{field}.{key}", f"must be a string, number or boolean, got {type(value).__name__}")
        both = set(opts.get("variables") or {}) & set(opts.get("masked_variables") or {})
        if both:
            raise SpecError("options.masked_variables", f"{', '.join(sorted(both))} is also in options.variables")
        tag = opts.get("tag_variable", DEFAULT_TAG_VARIABLE)
        for field in ("variables", "masked_variables"):
            if tag and tag in (opts.get(field) or {}):
                # Sent twice, the pipeline's tag would be the user's value: the sweep would
                # take the live run's pipeline for an orphan and cancel it.
                raise SpecError(f"options.{field}.{tag}", "is set by runwright (it tags the pipeline with its "
                                                          "execution); pick another name, or another options.tag_variable")
        refuse_local_fields(spec, "gitlab", "pipeline variables in options.variables")

    # -- the life cycle -----------------------------------------------------------------------
    def prepare(self, ctx: RunContext) -> None:
        self._connect(ctx, str(ctx.options.get("url") or os.environ.get(ENV_URL, "")), ctx.options["project"])

    def start(self, ctx: RunContext) -> None:
        st, opts = ctx.state, ctx.options
        project, ref = st["project"], opts["ref"]
        variables = [{"key": k, "value": parameter_text(v), "variable_type": "env_var"}
                     for k, v in {**opts["variables"], **opts["masked_variables"]}.items()]
        if opts["tag_variable"]:
            variables.append({"key": opts["tag_variable"], "value": ctx.execution_id or ctx.run_id, "variable_type": "env_var"})
        st["trigger"] = "inflight"
        try:
            pipeline = st["retry"](f"creating a pipeline for {ref} in project {project}",
                                   lambda: st["client"].create_pipeline(project, ref, variables), idempotent=False,
                                   explain=_explain(ctx, f"project {project}"))
            st["pipeline_id"] = int(pipeline["id"])
        finally:
            st["trigger"] = "done"
            st["triggered"].set()
        if ctx.abandoned:
            return
        ctx.set_handle({"server": st["server"], "project": project, "pipeline_id": st["pipeline_id"]})
        self._found_pipeline(ctx, pipeline)

    def attach(self, ctx: RunContext) -> None:
        handle = ctx.handle or {}
        server, project, pipeline_id = handle.get("server"), handle.get("project"), handle.get("pipeline_id")
        if not (isinstance(server, str) and isinstance(project, (str, int)) and isinstance(pipeline_id, int)):
            raise RunnerError(f"the handle does not name a GitLab pipeline (server, project, pipeline_id): {dict(handle)}")
        self._connect(ctx, server, project)
        st = ctx.state
        st.update(pipeline_id=pipeline_id, trigger="done")
        # Where the dead worker had passed each job's trace on up to: go on from there.
        cursor = (ctx.resumed_metadata or {}).get("trace_cursor") or {}
        if cursor.get("pipeline") == pipeline_id:
            st["offsets"].update({int(k): int(v) for k, v in (cursor.get("offsets") or {}).items()})
            st["traced"].update(int(j) for j in cursor.get("traced") or [])
        st["triggered"].set()
        pipeline = st["retry"](f"reading pipeline {pipeline_id}", lambda: st["client"].pipeline(project, pipeline_id),
                               explain=_explain(ctx, f"pipeline {pipeline_id} of project {project}"))
        ctx.say(f"re-attached to pipeline {pipeline_id} of project {project} ({pipeline.get('status')}); "
                "job traces go on after what was recorded")
        self._found_pipeline(ctx, pipeline, announce=False)

    def stream(self, ctx: RunContext) -> None:
        st = ctx.state
        try:
            self._follow(ctx)
        except BaseException:
            st["broken"] = True
            raise

    def wait(self, ctx: RunContext) -> Exit:
        st = ctx.state
        if ctx.stopping or "pipeline" not in st:
            return Exit()
        status = str(st["pipeline"].get("status"))
        if status in ACTIVE:  # the stream ended early (a stop is coming): nothing to decide
            return Exit()
        st["finished"] = True
        jobs = latest_attempts(st["jobs"].values())  # a failed job retried since counts as its retry did
        failed = [j["name"] for j in jobs if j.get("status") == "failed" and not j.get("allow_failure")]
        allowed = [j["name"] for j in jobs if j.get("status") == "failed" and j.get("allow_failure")]
        pipeline = st["pipeline"]
        metadata = {"pipeline_id": st["pipeline_id"], "pipeline_iid": pipeline.get("iid"),
                    "pipeline_url": pipeline.get("web_url"), "sha": pipeline.get("sha"), "ref": pipeline.get("ref"),
                    "jobs": len(jobs), "retries": st["retry"].total}
        if failed:
            ctx.say(f"failed job{'s' if len(failed) > 1 else ''}: {', '.join(failed)}")
        return exit_for(status, stopped_by_us=bool(st.get("stop_requested")), failed_jobs=failed, allowed=allowed,
                        metadata=metadata)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        st = ctx.state
        st["stop_requested"] = True
        if st.get("trigger") is None:
            return Stop(True, "no pipeline was created")
        if not st["triggered"].wait(grace):
            return Stop(False, "the request creating the pipeline had not returned; the pipeline it may create is "
                               "cancelled when it does")
        if st.get("pipeline_id") is None:
            return Stop(True, "no pipeline was created (the request failed)")
        stop = cancel_pipeline(self._client_for(ctx), st["project"], st["pipeline_id"], grace)
        st["stop_confirmed"] = stop.confirmed
        return stop

    def cleanup(self, ctx: RunContext) -> None:
        """A pipeline left unfinished (stopped without a confirmed stop, or the run ended in
        error while it went on) is cancelled: nobody follows it any more."""
        st = ctx.state
        if st.get("pipeline_id") is None or st.get("finished") or st.get("stop_confirmed") or st.get("cleaned"):
            return
        # Not ctx.stopping: reading the deadline here could turn a run's error into a timeout.
        if not (st.get("stop_requested") or ctx.abandoned or st.get("broken")):
            return
        st["cleaned"] = True
        stop = cancel_pipeline(self._client_for(ctx), st["project"], st["pipeline_id"], ctx.spec.grace_period)
        st["stop_confirmed"] = stop.confirmed
        ctx.record_stop(stop)

    # -- steps' helpers ------------------------------------------------------------------------
    def _connect(self, ctx: RunContext, server: str, project: str | int) -> None:
        opts, st = ctx.options, ctx.state
        token = _token(server, opts.get("token"))
        if token:
            ctx.add_secret(token)
        st.update(server=server.rstrip("/"), project=project, token=token, triggered=threading.Event(), jobs={},
                  offsets={}, carries={}, partial={}, traced=set(), section=None)
        st["client"] = GitLabClient(server, token, float(opts["request_timeout"]))
        st["retry"] = Retrier(int(opts["retries"]), lambda seconds: ctx.wait_stop(seconds) is not None, ctx.say)

    def _client_for(self, ctx: RunContext) -> GitLabClient:
        st = ctx.state
        return GitLabClient(st["server"], st["token"], HOOK_TIMEOUT)

    def _found_pipeline(self, ctx: RunContext, pipeline: Mapping[str, Any], announce: bool = True) -> None:
        st = ctx.state
        st["pipeline"] = dict(pipeline)
        ctx.set_metadata(server=st["server"], project=st["project"], pipeline_id=st["pipeline_id"],
                         pipeline_iid=pipeline.get("iid"), pipeline_url=pipeline.get("web_url"), sha=pipeline.get("sha"))
        ctx.event("pipeline", {"id": st["pipeline_id"], "status": pipeline.get("status"), "url": pipeline.get("web_url")})
        st["pipeline_status"] = pipeline.get("status")
        if announce:
            ctx.say(f"created pipeline {st['pipeline_id']} for {pipeline.get('ref')} in project {st['project']}: "
                    f"{pipeline.get('web_url')}")

    def _follow(self, ctx: RunContext) -> None:
        st, opts = ctx.state, ctx.options
        client, project, pipeline_id = st["client"], st["project"], st["pipeline_id"]
        backoff = Backoff(opts["poll_interval"], opts["max_poll_interval"])
        explain = _explain(ctx, f"pipeline {pipeline_id} of project {project}")
        while True:
            pipeline = st["retry"](f"reading pipeline {pipeline_id}", lambda: client.pipeline(project, pipeline_id),
                                   explain=explain)
            st["pipeline"] = pipeline
            status = str(pipeline.get("status"))
            changed = status != st.get("pipeline_status")
            if changed:
                st["pipeline_status"] = status
                ctx.event("pipeline", {"id": pipeline_id, "status": status, "url": pipeline.get("web_url")})
                detail = ACTIVE.get(status, status)
                ctx.say(f"pipeline {pipeline_id}: {status}" + (f" ({detail})" if detail != status else ""))
            jobs = st["retry"](f"listing the jobs of pipeline {pipeline_id}", lambda: client.jobs(project, pipeline_id),
                               explain=explain)
            changed |= self._note_jobs(ctx, jobs)
            if opts["traces"]:
                changed |= self._read_traces(ctx, jobs)
            over = status not in ACTIVE  # finished, or a status this runner does not know (wait says so)
            if over and (not opts["traces"] or all(j["id"] in st["traced"] for j in jobs if j.get("status") in TRACED)):
                return
            if changed:
                backoff.reset()
            if ctx.wait_stop(backoff.next()) is not None:
                return

    def _note_jobs(self, ctx: RunContext, jobs: list[dict[str, Any]]) -> bool:
        known: dict[int, dict[str, Any]] = ctx.state["jobs"]
        changed = False
        for job in sorted(jobs, key=lambda j: int(j["id"])):
            before = known.get(job["id"])
            if before is None:
                earlier = [j for j in known.values() if j.get("name") == job.get("name") and int(j["id"]) < int(job["id"])]
                if earlier:
                    last = max(earlier, key=lambda j: int(j["id"]))
                    ctx.say(f"job {job.get('name')} (stage {job.get('stage')}): retried as #{job['id']} "
                            f"(#{last['id']} {last.get('status')})")
            known[job["id"]] = job
            if before is not None and before.get("status") == job.get("status"):
                continue
            changed = True
            status = str(job.get("status"))
            ctx.event("job", {"id": job["id"], "name": job.get("name"), "stage": job.get("stage"), "status": status,
                              "allow_failure": bool(job.get("allow_failure")), "url": job.get("web_url"),
                              "failure_reason": job.get("failure_reason")})
            if status in FINISHED or status not in ACTIVE:
                why = f", {job['failure_reason']}" if status == "failed" and job.get("failure_reason") else ""
                allowed = " (allowed to fail)" if status == "failed" and job.get("allow_failure") else ""
                ctx.say(f"job {job.get('name')} (stage {job.get('stage')}): {status}{why}{allowed}")
        return changed

    def _read_traces(self, ctx: RunContext, jobs: list[dict[str, Any]]) -> bool:
        st = ctx.state
        client, project = st["client"], st["project"]
        changed = False
        for job in sorted(jobs, key=lambda j: int(j["id"])):
            job_id, status = int(job["id"]), str(job.get("status"))
            if status not in TRACED or job_id in st["traced"]:
                continue
            trace = st["retry"](f"reading the trace of job {job.get('name')}",
                                lambda i=job_id: _trace_or_empty(client, project, i),
                                explain=_explain(ctx, f"job {job.get('name')} of project {project}"))
            offset = st["offsets"].get(job_id, 0)
            carry: Utf8Carry = st["carries"].setdefault(job_id, Utf8Carry())
            fresh = st["partial"].pop(job_id, b"") + (carry.feed(trace[offset:]) if len(trace) > offset else b"")
            st["offsets"][job_id] = max(offset, len(trace))
            done = status not in ACTIVE
            if done:
                fresh += carry.flush()
                st["traced"].add(job_id)
            elif len(fresh) < MAX_HELD_LINE:
                # Whole lines only while the job runs: jobs running side by side share the
                # stdout stream, and a line (a secret in it) cut between two polls would be
                # spliced with another job's output, and no longer masked whole.
                cut = fresh.rfind(b"\n") + 1
                if cut < len(fresh):
                    st["partial"][job_id] = fresh[cut:]
                    fresh = fresh[:cut]
            if fresh:
                changed = True
                if st["section"] != job_id:
                    ctx.say(f"--- job {job.get('name')} (stage {job.get('stage')}, #{job_id}) ---")
                    st["section"] = job_id
                ctx.emit("stdout", fresh)
                # With every batch: how far each job's trace was passed on (held bytes of a split
                # character excluded), so a worker that takes the run over repeats nothing.
                ctx.set_metadata(trace_cursor={
                    "pipeline": st["pipeline_id"], "traced": sorted(st["traced"]),
                    "offsets": {str(j): o - (st["carries"][j].held if j in st["carries"] else 0)
                                - len(st["partial"].get(j, b"")) for j, o in st["offsets"].items()}})
        return changed

    # -- hooks -----------------------------------------------------------------------------------
    @classmethod
    def probe(cls, handle: Mapping[str, Any]) -> Liveness:
        """ALIVE while the pipeline is not over; GONE once it is (or was deleted); UNKNOWN
        when the server cannot be asked."""
        try:
            client = _hook_client(str(handle.get("server", "")))
            status = client.pipeline(handle["project"], int(handle["pipeline_id"])).get("status")
        except RemoteError as exc:
            return Liveness.GONE if exc.status == 404 else Liveness.UNKNOWN
        except (KeyError, TypeError, ValueError):
            return Liveness.UNKNOWN
        return Liveness.ALIVE if status in ACTIVE else Liveness.GONE

    @classmethod
    def stop_handle(cls, handle: Mapping[str, Any], grace: float) -> Stop:
        """Cancel the handle's pipeline and confirm it."""
        try:
            client = _hook_client(str(handle.get("server", "")))
            return cancel_pipeline(client, handle["project"], int(handle["pipeline_id"]), grace)
        except (RemoteError, KeyError, TypeError, ValueError) as exc:
            return Stop(False, f"could not cancel the GitLab pipeline of {dict(handle)}: {exc}")

    @classmethod
    def sweep(cls, is_active: Callable[[str], bool]) -> list[str]:
        """Cancel pipelines, in the projects ``RUNWRIGHT_GITLAB_PROJECTS`` (comma-separated) of
        the server ``RUNWRIGHT_GITLAB_URL``, that are not over and whose execution tag (the
        ``RUNWRIGHT_EXECUTION`` variable, or the name in ``RUNWRIGHT_GITLAB_TAG_VARIABLE``)
        belongs to a run that is no longer active. Raises RunnerError when unreachable."""
        server, projects = os.environ.get(ENV_URL), os.environ.get(ENV_PROJECTS, "")
        if not server or not projects.strip():
            return []
        tag_name = os.environ.get("RUNWRIGHT_GITLAB_TAG_VARIABLE", DEFAULT_TAG_VARIABLE)
        client = _hook_client(server)
        removed: list[str] = []
        try:
            for project in (p.strip() for p in projects.split(",") if p.strip()):
                seen: set[int] = set()
                for status in ACTIVE:
                    for pipeline in client.pipelines(project, status):
                        pipeline_id = int(pipeline["id"])
                        if pipeline_id in seen:
                            continue
                        seen.add(pipeline_id)
                        tag = next((v.get("value") for v in client.variables(project, pipeline_id)
                                    if v.get("key") == tag_name), None)
                        if tag and not is_active(str(tag)):
                            stop = cancel_pipeline(client, project, pipeline_id, HOOK_TIMEOUT)
                            removed.append(f"gitlab pipeline {pipeline_id} of {project} (run {tag}): {stop.detail}")
        except RemoteError as exc:
            raise RunnerError(f"the GitLab sweep of {server} failed: {exc}") from None
        return removed


# -- stopping ----------------------------------------------------------------------------------------
def cancel_pipeline(client: GitLabClient, project: str | int, pipeline_id: int, grace: float) -> Stop:
    """Cancel pipeline ``pipeline_id`` and confirm it is over within ``grace`` seconds."""
    try:
        status = client.pipeline(project, pipeline_id).get("status")
        if status not in ACTIVE:
            return Stop(True, f"pipeline {pipeline_id} had already ended ({status})")
        client.cancel(project, pipeline_id)
        deadline, pause = time.monotonic() + grace, 0.1
        while True:
            status = client.pipeline(project, pipeline_id).get("status")
            if status not in ACTIVE:
                return Stop(True, f"cancelled pipeline {pipeline_id} ({status})")
            if time.monotonic() >= deadline:
                return Stop(False, f"asked pipeline {pipeline_id} to cancel, but it was still {status} {grace:g}s later")
            time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(1.0, pause * 2)
    except RemoteError as exc:
        return Stop(False, f"could not cancel pipeline {pipeline_id} of project {project}: {exc}")


def _trace_or_empty(client: GitLabClient, project: str | int, job_id: int) -> bytes:
    try:
        return client.trace(project, job_id)
    except RemoteError as exc:
        if exc.status == 404:  # a job cancelled before it ran has no trace
            return b""
        raise


def _token(server: str, token: str | None) -> str | None:
    if token:
        return token
    configured = os.environ.get(ENV_URL, "")
    if configured and configured.rstrip("/") == server.rstrip("/"):
        return os.environ.get(ENV_TOKEN) or None
    return None


def _hook_client(server: str) -> GitLabClient:
    if not server:
        raise RemoteError("the handle names no GitLab server", transient=False)
    return GitLabClient(server, _token(server, None), HOOK_TIMEOUT)


def _explain(ctx: RunContext, subject: str) -> Callable[[RemoteError], str | None]:
    """Clear errors, at once, for what retrying cannot fix: 400, 401, 403, 404."""
    server = ctx.state.get("server", "")

    def explain(exc: RemoteError) -> str | None:
        if exc.status == 401:
            return f"GitLab at {server} refused the token for {subject} (HTTP 401: {exc.message}); check options.token"
        if exc.status == 403:
            return f"GitLab at {server} denied access to {subject} (HTTP 403: {exc.message})"
        if exc.status == 404:
            return f"{subject} not found on {server} (HTTP 404: {exc.message})"
        if exc.status in (400, 422):
            return f"GitLab at {server} refused the request for {subject} (HTTP {exc.status}: {exc.message})"
        return None

    return explain



__all__ = ["GitLabRunner", "cancel_pipeline"]
