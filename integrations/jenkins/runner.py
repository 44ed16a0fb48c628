"""JenkinsRunner: trigger a Jenkins job, follow it to its build, stream the console, record
the result.

Life cycle: ``prepare`` reads the job (it exists, it is enabled, the parameters it declares);
``start`` queues the build and reports the handle (server, job, queue item) at once;
``stream`` follows the queue item to its build and streams the console as it grows
(``logText/progressiveText`` from the offset of the previous answer, so nothing repeats and
nothing is lost); ``wait`` reads the result and maps it (results.py). ``terminate`` cancels
the queue item or stops the build, and confirms it. A build outlives its worker: the policy
is REATTACH, and ``probe``/``stop_handle``/``sweep`` work from the handle or the server.

Credentials: ``options.user``/``options.token``, else ``RUNWRIGHT_JENKINS_USER``/
``RUNWRIGHT_JENKINS_TOKEN`` from the worker's environment (for the server
``RUNWRIGHT_JENKINS_URL``, which is also the default ``options.url``). The hooks, which get
only a handle, use the environment's credentials for that server.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from runwright.integrations.jenkins.client import JenkinsClient, parameters_of
from runwright.integrations.jenkins.results import exit_for
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
from runwright.runners.spec import MAX_DURATION

ENV_URL, ENV_USER, ENV_TOKEN = "RUNWRIGHT_JENKINS_URL", "RUNWRIGHT_JENKINS_USER", "RUNWRIGHT_JENKINS_TOKEN"
DEFAULT_TAG_PARAMETER = "RUNWRIGHT_EXECUTION"
#: How long the hooks (probe, stop_handle, sweep) wait for one answer.
HOOK_TIMEOUT = 10.0


class JenkinsRunner(Runner):
    """A Jenkins job's build, triggered and followed through the remote access API."""

    name = "jenkins"
    command = "none"
    on_worker_lost = OnWorkerLost.REATTACH
    #: Deleting what the run made may wait on the engine, the cluster or the server.
    cleanup_seconds = 30.0
    options = (
        Option("job", str, required=True, help="Full name of the job; folders are written `team/app/deploy`."),
        Option("url", str, help=f"Jenkins URL (default: ${ENV_URL})."),
        Option("parameters", dict, default={}, help="Build parameters {NAME: value} (strings, numbers, booleans)."),
        Option("secret_parameters", dict, default={}, secret=True,
               help="Build parameters that hold passwords or tokens."),
        Option("user", str, help=f"User name for the API token (default: ${ENV_USER})."),
        Option("token", str, secret=True, help=f"API token (default: ${ENV_TOKEN})."),
        Option("poll_interval", (int, float), default=1.0, minimum=0.001, maximum=MAX_POLL,
               help="Seconds between polls after a change."),
        Option("max_poll_interval", (int, float), default=10.0, minimum=0.001, maximum=MAX_POLL,
               help="Longest pause between polls while nothing changes (the interval grows 1.5x per quiet poll)."),
        Option("retries", int, default=5, minimum=0, maximum=MAX_RETRIES,
               help="Retries of a request after a connection error, 429 or 5xx (honouring Retry-After)."),
        Option("request_timeout", (int, float), default=30.0, minimum=0.001, maximum=MAX_POLL,
               help="Seconds to wait for one answer of the server."),
        Option("queue_timeout", (int, float), minimum=0.001, maximum=MAX_DURATION,
               help="Seconds the build may wait in the queue before the run ends `error` (default: no limit)."),
        Option("fail_when_stuck", bool, default=True,
               help="End the run `error` (and cancel the queue item) when Jenkins marks it stuck."),
        Option("tag_parameter", str, default=DEFAULT_TAG_PARAMETER,
               help="Parameter given the run's execution tag when the job declares it (the sweep finds builds by it)."),
        worker_lost_option(),
    )

    # -- validation -------------------------------------------------------------------------
    def validate(self, spec: RunSpec) -> None:
        super().validate(spec)
        opts = spec.options
        job = opts.get("job", "")
        if not job.strip("/") or job != job.strip("/") or "//" in job:
            raise SpecError("options.job", f"must be a job's full name like team/app/deploy, got {job!r}")
        check_server_url(opts.get("url"), ENV_URL, os.environ.get(ENV_URL), "https://jenkins.example.com/")
        for field in ("parameters", "secret_parameters"):
            for key, value in (opts.get(field) or {}).items():
                if not isinstance(value, (str, int, float, bool)):
                    raise SpecError(f"options.{field}.{key}", f"must be a string, number or boolean, got {type(value).__name__}")
        tag = opts.get("tag_parameter", DEFAULT_TAG_PARAMETER)
        for field in ("parameters", "secret_parameters"):
            if tag and tag in (opts.get(field) or {}):
                # It would be overwritten silently: the parameter tags the build with its execution.
                raise SpecError(f"options.{field}.{tag}", "is set by runwright (it tags the build with its "
                                                          "execution); pick another name, or another options.tag_parameter")
        refuse_local_fields(spec, "jenkins", "build parameters in options.parameters")

    # -- the life cycle -----------------------------------------------------------------------
    def prepare(self, ctx: RunContext) -> None:
        opts = ctx.options
        self._connect(ctx, str(opts.get("url") or os.environ.get(ENV_URL, "")), opts["job"])
        st, job = ctx.state, opts["job"]
        info = st["retry"](f"reading job {job}", lambda: st["client"].job_info(job), explain=_explain(ctx, f"job {job}"))
        if info.get("buildable") is False:
            raise RunnerError(f"job {job} on {st['server']} is disabled")
        declared = [p.get("name") for prop in info.get("property") or [] for p in (prop or {}).get("parameterDefinitions") or []]
        given = {k: parameter_text(v) for k, v in {**opts["parameters"], **opts["secret_parameters"]}.items()}
        if given and not declared:
            raise RunnerError(f"job {job} takes no parameters, but the spec gives {', '.join(sorted(given))}")
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise RunnerError(f"job {job} does not declare the parameter{'s' if len(unknown) > 1 else ''} "
                              f"{', '.join(unknown)} (Jenkins would drop {'them' if len(unknown) > 1 else 'it'}); "
                              f"it declares {', '.join(str(d) for d in declared)}")
        tag = opts["tag_parameter"]
        if tag and tag in declared:
            given[tag] = ctx.execution_id or ctx.run_id
        st["parameters"] = given if declared else None

    def start(self, ctx: RunContext) -> None:
        st, job = ctx.state, ctx.options["job"]
        st["trigger"] = "inflight"
        try:
            queue_id = st["retry"](f"triggering job {job}", lambda: st["client"].trigger(job, st["parameters"]),
                                   idempotent=False, explain=_explain(ctx, f"job {job}"))
            st["queue_id"] = queue_id
        finally:
            st["trigger"] = "done"
            st["triggered"].set()
        if ctx.abandoned:  # the run ended while the trigger was in flight: cleanup cancels the item
            return
        ctx.set_handle({"server": st["server"], "job": job, "queue_id": queue_id})
        ctx.set_metadata(server=st["server"], job=job, queue_id=queue_id)
        ctx.event("queued", {"job": job, "queue_id": queue_id})
        ctx.say(f"queued job {job} on {st['server']} (queue item {queue_id})")

    def attach(self, ctx: RunContext) -> None:
        handle = ctx.handle or {}
        server, job, queue_id = handle.get("server"), handle.get("job"), handle.get("queue_id")
        if not (isinstance(server, str) and isinstance(job, str) and isinstance(queue_id, int)):
            raise RunnerError(f"the handle does not name a Jenkins queue item (server, job, queue_id): {dict(handle)}")
        self._connect(ctx, server, job)
        st = ctx.state
        st.update(queue_id=queue_id, trigger="done", attached=True)
        st["triggered"].set()
        ctx.metadata.update(server=st["server"], job=job, queue_id=queue_id)
        ctx.say(f"re-attached to job {job} on {st['server']} (queue item {queue_id})")

    def stream(self, ctx: RunContext) -> None:
        st = ctx.state
        try:
            backoff = Backoff(ctx.options["poll_interval"], ctx.options["max_poll_interval"])
            if "build_url" not in st and not self._follow_queue(ctx, backoff):
                return
            self._follow_console(ctx, backoff)
        except BaseException:
            st["broken"] = True
            raise

    def wait(self, ctx: RunContext) -> Exit:
        st = ctx.state
        if ctx.stopping or "build_url" not in st:
            return Exit()
        build_url, number = st["build_url"], st["build_number"]
        backoff = Backoff(min(0.5, ctx.options["poll_interval"]), ctx.options["max_poll_interval"])
        try:
            while True:
                info = st["retry"](f"reading build #{number}", lambda: st["client"].build(build_url),
                                   explain=_explain(ctx, f"build #{number} of job {st['job']}"))
                if not info.get("building") and info.get("result") is not None:
                    break
                if ctx.wait_stop(backoff.next()) is not None:
                    return Exit()
        except BaseException:
            st["broken"] = True
            raise
        st["finished"] = True
        metadata = {"build_number": number, "build_url": build_url, "duration_ms": info.get("duration"),
                    "retries": st["retry"].total}
        if not st.get("stop_requested"):
            ctx.say(f"build #{number} finished: {info.get('result')}")
        return exit_for(info.get("result"), stopped_by_us=bool(st.get("stop_requested")), metadata=metadata)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        st = ctx.state
        st["stop_requested"] = True
        if st.get("trigger") is None:
            return Stop(True, "no build was queued")
        if not st["triggered"].wait(grace):
            return Stop(False, "the trigger request had not returned; what it queued is cancelled when it does")
        if st.get("queue_id") is None:
            return Stop(True, "no build was queued (the trigger failed)")
        stop = stop_remote(self._client_for(ctx, HOOK_TIMEOUT), st["job"], st["queue_id"], st.get("build_url"), grace)
        st["stop_confirmed"] = stop.confirmed
        return stop

    def cleanup(self, ctx: RunContext) -> None:
        """A build left unfinished (the run was stopped without a confirmed stop, or ended in
        error while the build went on) is stopped: nobody follows it any more."""
        st = ctx.state
        if st.get("queue_id") is None or st.get("finished") or st.get("stop_confirmed") or st.get("cleaned"):
            return
        # Not ctx.stopping: reading the deadline here could turn a run's error into a timeout.
        if not (st.get("stop_requested") or ctx.abandoned or st.get("broken")):
            return
        st["cleaned"] = True
        stop = stop_remote(self._client_for(ctx, HOOK_TIMEOUT), st["job"], st["queue_id"], st.get("build_url"),
                           ctx.spec.grace_period)
        st["stop_confirmed"] = stop.confirmed
        ctx.record_stop(stop)

    # -- steps' helpers --------------------------------------------------------------------------
    def _connect(self, ctx: RunContext, server: str, job: str) -> None:
        opts, st = ctx.options, ctx.state
        user, token = _credentials(server, opts.get("user"), opts.get("token"))
        if bool(user) != bool(token):  # python-jenkins would fall back to anonymous access, silently
            raise RunnerError(f"Jenkins at {server.rstrip('/')} needs both a user and an API token: options.user "
                              f"(or ${ENV_USER}) and options.token (or ${ENV_TOKEN}); only the "
                              f"{'user' if user else 'token'} is given")
        if token:
            ctx.add_secret(token)  # a token from the environment is as secret as one in the spec
        st.update(server=server.rstrip("/"), job=job, user=user, token=token, triggered=threading.Event())
        st["client"] = JenkinsClient(server, user, token, float(opts["request_timeout"]))
        st["retry"] = Retrier(int(opts["retries"]), lambda seconds: ctx.wait_stop(seconds) is not None, ctx.say)

    def _client_for(self, ctx: RunContext, timeout: float) -> JenkinsClient:
        """A client of its own for another thread (terminate runs beside the steps)."""
        st = ctx.state
        return JenkinsClient(st["server"], st["user"], st["token"], timeout)

    def _follow_queue(self, ctx: RunContext, backoff: Backoff) -> bool:
        """Poll the queue item until it becomes a build; False when the run is stopping."""
        st, opts = ctx.state, ctx.options
        client, job, queue_id = st["client"], st["job"], st["queue_id"]
        since, last_why = time.monotonic(), None
        while True:
            item = st["retry"](f"reading queue item {queue_id}", lambda: _queue_item_or_none(client, queue_id),
                               explain=_explain(ctx, f"queue item {queue_id} of job {job}"))
            if item is None:  # the server forgets items some minutes after they left the queue
                build = _build_from_queue(client, job, queue_id)
                if build is None:
                    st["finished"] = True
                    raise RunnerError(f"queue item {queue_id} of job {job} is no longer known to the server and no "
                                      "recent build of the job came from it")
                self._found_build(ctx, int(build["number"]))
                return True
            if item.get("cancelled"):
                if ctx.stopping or st.get("stop_requested"):
                    return False
                st["finished"] = True  # nothing is left on the server to stop
                raise RunnerError(f"queue item {queue_id} of job {job} was cancelled on the server before a build started")
            executable = item.get("executable") or {}
            if executable.get("number") is not None:
                self._found_build(ctx, int(executable["number"]))
                return True
            why = item.get("why") or "waiting"
            waited = time.monotonic() - since
            if item.get("stuck") and opts["fail_when_stuck"]:
                self._give_up_queue(ctx, f"queue item {queue_id} of job {job} is stuck ({why})")
            if opts.get("queue_timeout") and waited >= opts["queue_timeout"]:
                self._give_up_queue(ctx, f"queue item {queue_id} of job {job} was still queued after "
                                         f"{opts['queue_timeout']:g}s ({why})")
            if why != last_why:
                ctx.say(f"waiting in the queue: {why}")
                ctx.event("queue", {"queue_id": queue_id, "why": why, "blocked": bool(item.get("blocked")),
                                    "stuck": bool(item.get("stuck"))})
                last_why = why
            if ctx.wait_stop(backoff.next()) is not None:
                return False

    def _give_up_queue(self, ctx: RunContext, why: str) -> None:
        st = ctx.state
        stop = stop_remote(st["client"], st["job"], st["queue_id"], None, ctx.spec.grace_period)
        st["stop_confirmed"] = stop.confirmed
        if stop.confirmed and "build_url" not in st:
            st["finished"] = True
        raise RunnerError(f"{why}; {stop.detail}" + ("" if stop.confirmed else " (not confirmed)"))

    def _found_build(self, ctx: RunContext, number: int) -> None:
        st = ctx.state
        url = st["client"].job_url(st["job"]) + f"{number}/"
        st["build_url"], st["build_number"] = url, number
        ctx.set_metadata(build_number=number, build_url=url)
        ctx.event("build", {"job": st["job"], "number": number, "url": url})
        ctx.say(f"build #{number} started: {url}")

    def _follow_console(self, ctx: RunContext, backoff: Backoff) -> None:
        st = ctx.state
        client, url, number = st["client"], st["build_url"], st["build_number"]
        carry: Utf8Carry = st.setdefault("carry", Utf8Carry())
        if "offset" not in st:  # a re-attached run goes on after what the dead worker passed on
            cursor = (ctx.resumed_metadata or {}).get("console_cursor") or {}
            if cursor.get("build") == url and isinstance(cursor.get("offset"), int) and cursor["offset"] > 0:
                st["offset"] = cursor["offset"]
                ctx.say(f"the console of build #{number} goes on from byte {cursor['offset']}, after what was recorded")
        offset = int(st.get("offset", 0))
        backoff.reset()
        while True:
            chunk = st["retry"](f"reading the console of build #{number}", lambda start=offset: client.console(url, start),
                                explain=_explain(ctx, f"build #{number} of job {st['job']}"))
            if chunk.next_offset < offset:  # the log shrank: Jenkins answers from its start ("rolled over")
                ctx.say(f"the console of build #{number} shrank on the server ({offset} -> {chunk.next_offset} bytes); "
                        "following it from its start")
            offset = st["offset"] = chunk.next_offset
            if chunk.data:
                ctx.emit("stdout", carry.feed(chunk.data))
                # With every batch, where the console was passed on up to: a worker that takes
                # the run over goes on from there (held bytes of a split character excluded).
                ctx.set_metadata(console_cursor={"build": url, "offset": offset - carry.held})
                backoff.reset()
            if not chunk.more:
                break
            if ctx.wait_stop(backoff.next()) is not None:
                break
        ctx.emit("stdout", carry.flush())

    # -- hooks: a build known only by its handle, and what crashed workers left ----------------
    @classmethod
    def probe(cls, handle: Mapping[str, Any]) -> Liveness:
        """ALIVE while the queue item waits or its build runs; GONE once it ended or was
        cancelled; UNKNOWN when the server cannot be asked."""
        try:
            client = _hook_client(str(handle.get("server", "")))
            where = _locate(client, str(handle.get("job", "")), int(handle.get("queue_id", -1)))
            if where in ("queued",):
                return Liveness.ALIVE
            if where is None or where == "cancelled":
                return Liveness.GONE
            return Liveness.ALIVE if client.build(where).get("building") else Liveness.GONE
        except RemoteError as exc:
            return Liveness.GONE if exc.status == 404 else Liveness.UNKNOWN
        except (TypeError, ValueError):
            return Liveness.UNKNOWN

    @classmethod
    def stop_handle(cls, handle: Mapping[str, Any], grace: float) -> Stop:
        """Cancel the handle's queue item, or stop its build, and confirm it."""
        try:
            client = _hook_client(str(handle.get("server", "")))
            return stop_remote(client, str(handle.get("job", "")), int(handle.get("queue_id", -1)), None, grace)
        except (RemoteError, TypeError, ValueError) as exc:
            return Stop(False, f"could not stop the Jenkins build of {dict(handle)}: {exc}")

    @classmethod
    def sweep(cls, is_active: Callable[[str], bool]) -> list[str]:
        """Cancel queue items and stop builds on the server ``RUNWRIGHT_JENKINS_URL`` whose
        execution tag (the ``RUNWRIGHT_EXECUTION`` parameter, or the name in
        ``RUNWRIGHT_JENKINS_TAG_PARAMETER``) belongs to a run that is no longer active.
        Nothing without a configured server. Raises RunnerError when it is unreachable."""
        server = os.environ.get(ENV_URL)
        if not server:
            return []
        tag_name = os.environ.get("RUNWRIGHT_JENKINS_TAG_PARAMETER", DEFAULT_TAG_PARAMETER)
        client = _hook_client(server)
        removed: list[str] = []
        try:
            for item in client.queue_items():
                tag = _tag_of(item, tag_name)
                if tag and not is_active(tag):
                    client.cancel_queue_item(int(item["id"]))
                    removed.append(f"jenkins queue item {item['id']} of {(item.get('task') or {}).get('name')} (run {tag})")
            for build in client.running_builds():
                tag = _tag_of(build, tag_name)
                if tag and not is_active(tag):
                    stop = _stop_build(client, str(build["url"]), int(build.get("number") or 0), HOOK_TIMEOUT)
                    removed.append(f"jenkins build {build['url']} (run {tag}): {stop.detail}")
        except RemoteError as exc:
            raise RunnerError(f"the Jenkins sweep of {server} failed: {exc}") from None
        return removed


# -- stopping remote work (terminate, cleanup, stop_handle) ------------------------------------
def stop_remote(client: JenkinsClient, job: str, queue_id: int, build_url: str | None, grace: float) -> Stop:
    """Cancel queue item ``queue_id`` or stop its build (``build_url`` when known), then
    confirm: the item reads cancelled, or the build no longer runs."""
    try:
        if build_url is None:
            where = _locate(client, job, queue_id)
            if where is None:
                return Stop(True, f"queue item {queue_id} had left the queue and started no build")
            if where == "cancelled":
                return Stop(True, f"queue item {queue_id} was cancelled")
            if where == "queued":
                client.cancel_queue_item(queue_id)
                where = _locate(client, job, queue_id)
                if where in (None, "cancelled"):
                    return Stop(True, f"cancelled queue item {queue_id} before it started a build")
                if where == "queued":
                    return Stop(False, f"asked to cancel queue item {queue_id}, but it is still queued")
            build_url = where
        number = int(build_url.rstrip("/").rsplit("/", 1)[-1])
        return _stop_build(client, build_url, number, grace)
    except RemoteError as exc:
        return Stop(False, f"could not stop queue item {queue_id} of job {job}: {exc}")


def _stop_build(client: JenkinsClient, build_url: str, number: int, grace: float) -> Stop:
    info = client.build(build_url)
    if not info.get("building"):
        return Stop(True, f"build #{number} had already ended ({info.get('result')})")
    client.stop_build(build_url)
    if _ended(client, build_url, grace):
        return Stop(True, f"stopped build #{number}")
    if client.kill_build(build_url) and _ended(client, build_url, max(2.0, min(grace, 10.0))):
        return Stop(True, f"stopped build #{number} (killed: it did not stop within {grace:g}s)")
    return Stop(False, f"asked build #{number} to stop, but it was still running {grace:g}s later")


def _ended(client: JenkinsClient, build_url: str, within: float) -> bool:
    deadline = time.monotonic() + within
    pause = 0.1
    while True:
        if not client.build(build_url).get("building"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(1.0, pause * 2)


def _locate(client: JenkinsClient, job: str, queue_id: int) -> str | None:
    """Where queue item ``queue_id`` is now: ``"queued"``, ``"cancelled"``, its build's URL,
    or None (the server forgot the item and no recent build of the job came from it)."""
    item = _queue_item_or_none(client, queue_id)
    if item is None:
        build = _build_from_queue(client, job, queue_id)
        return None if build is None else client.job_url(job) + f"{int(build['number'])}/"
    if item.get("cancelled"):
        return "cancelled"
    number = (item.get("executable") or {}).get("number")
    return "queued" if number is None else client.job_url(job) + f"{int(number)}/"


def _queue_item_or_none(client: JenkinsClient, queue_id: int) -> dict[str, Any] | None:
    try:
        return client.queue_item(queue_id)
    except RemoteError as exc:
        if exc.status == 404:
            return None
        raise


def _build_from_queue(client: JenkinsClient, job: str, queue_id: int) -> dict[str, Any] | None:
    for build in client.builds_of(job):
        if build.get("queueId") == queue_id:
            return build
    return None


def _tag_of(item: Mapping[str, Any], name: str) -> str | None:
    value = parameters_of(dict(item)).get(name)
    if value:
        return str(value)
    for line in str(item.get("params") or "").splitlines():  # a queue item's "\nNAME=value" form
        key, _, rest = line.partition("=")
        if key == name and rest:
            return rest
    return None


# -- settings ------------------------------------------------------------------------------------
def _credentials(server: str, user: str | None, token: str | None) -> tuple[str | None, str | None]:
    """The spec's user and token, each else the environment's when ``server`` is the configured one."""
    if _same_server(server, os.environ.get(ENV_URL, "")):
        user, token = user or os.environ.get(ENV_USER) or None, token or os.environ.get(ENV_TOKEN) or None
    return user or None, token or None


def _same_server(a: str, b: str) -> bool:
    return bool(a) and a.rstrip("/") == b.rstrip("/")


def _hook_client(server: str) -> JenkinsClient:
    if not server:
        raise RemoteError("the handle names no Jenkins server", transient=False)
    user, token = _credentials(server, None, None)
    return JenkinsClient(server, user, token, HOOK_TIMEOUT)


def _explain(ctx: RunContext, subject: str) -> Callable[[RemoteError], str | None]:
    """Clear errors, at once, for what retrying cannot fix: 401, 403, 404."""
    server = ctx.state.get("server", "")

    def explain(exc: RemoteError) -> str | None:
        if exc.status == 401:
            return (f"Jenkins at {server} refused the credentials for {subject} (HTTP 401: {exc.message}); "
                    "check options.user and options.token")
        if exc.status == 403:
            return f"Jenkins at {server} denied access to {subject} (HTTP 403: {exc.message})"
        if exc.status == 404:
            return f"{subject} not found on {server} (HTTP 404); folders are written team/app/job"
        return None

    return explain



__all__ = ["JenkinsRunner", "stop_remote"]
