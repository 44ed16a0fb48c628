"""DockerRunner: a command in a container, through the Docker SDK.

Stdout and stderr are streamed separately as they arrive (attach, demultiplexed). The
container runs with an init process by default, so a stop is prompt; timeout and cancel stop
it with the grace period, then kill it; it is removed afterwards unless the spec keeps it.

The image pull runs in ``prepare`` under the deadline and the cancel token: a stop shuts the
pull's connection down, so the engine abandons it. The handle is the container id and the
engine's URL, reported as soon as the container exists. A container outlives its worker, so
the policy is REATTACH: another worker ``attach``es to it and follows its remaining output.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from runwright.runners.base import Exit, RunContext, Runner, RunnerError
from runwright.runners.docker_engine import (
    LABEL_EXECUTION,
    LABEL_MANAGED,
    LABEL_RUN,
    Interrupter,
    api_error,
    check_registry_auth,
    connect,
    connect_to,
    engine_configured,
    engine_url,
    sweep_containers,
)
from runwright.runners.exitcodes import describe_exit, signal_name, signal_of_shell_code
from runwright.runners.hooks import Liveness, OnWorkerLost, Stop
from runwright.runners.options import INT64_MAX, Option, worker_lost_option
from runwright.runners.spec import RunSpec, SpecError

PULL_POLICIES = ("missing", "always", "never")
#: Bounds of the resource options: the engine refuses a memory limit under 6 MiB; more CPUs
#: than any host has, or more processes than Linux's PID_MAX_LIMIT, is a typo.
MIN_MEMORY = 6 * 1024 * 1024
MAX_CPUS = 1024
PID_MAX = 4 * 1024 * 1024
#: Seconds between two writes of a run's output cursor (see DockerRunner.stream).
CURSOR_EVERY = 0.5


class DockerRunner(Runner):
    """A command in a container, through the Docker SDK."""

    name = "docker"
    options = (
        Option("image", str, required=True, help="Image to run, e.g. `python:3.12`."),
        Option("pull", str, default="missing", choices=PULL_POLICIES,
               help="When to pull the image: if missing locally, always, or never."),
        Option("auth", dict, help="Registry credentials for the pull: {username, password}; the password is masked."),
        Option("docker_host", str, help="Engine URL (default: DOCKER_HOST or the local socket)."),
        Option("mounts", list, default=[], help="`SOURCE:TARGET[:ro]` strings or {source, target, type, read_only}."),
        Option("user", str, help="User (name or uid[:gid]) to run as."),
        Option("network", str, help="`none`, `host`, `bridge` or the name of a network."),
        Option("ports", dict, help='Published ports: {"8080/tcp": ["127.0.0.1", 18080]}.'),
        Option("mem_limit", (str, int), minimum=MIN_MEMORY, maximum=INT64_MAX,
               help="Memory limit (`64m`, bytes); swap is limited to the same."),
        Option("cpus", (int, float), minimum=0.001, maximum=MAX_CPUS, help="CPUs, fractions allowed."),
        Option("pids_limit", int, minimum=-1, maximum=PID_MAX, help="Maximum number of processes in the container."),
        Option("init", bool, default=True, help="Run an init process as PID 1, so a stop is prompt."),
        Option("entrypoint", (str, list), help="Override the image's entrypoint."),
        Option("privileged", bool, default=False, help="Run privileged."),
        Option("keep_container", bool, default=False, help="Keep the container after the run (it is removed otherwise)."),
        worker_lost_option(),
    )
    on_worker_lost = OnWorkerLost.REATTACH
    #: Deleting what the run made may wait on the engine, the cluster or the server.
    cleanup_seconds = 30.0

    def validate(self, spec: RunSpec) -> None:
        super().validate(spec)
        opts = spec.options
        if not opts.get("image"):
            raise SpecError("options.image", "is required for the docker runner")
        if spec.stdin is not None:
            raise SpecError("stdin", "is not supported by the docker runner")
        for i, mount in enumerate(opts.get("mounts", [])):
            if isinstance(mount, str):
                if mount.count(":") not in (1, 2) or not all(mount.split(":")[:2]):
                    raise SpecError(f"options.mounts[{i}]", f"expected SOURCE:TARGET[:ro], got {mount!r}")
            elif not (isinstance(mount, dict) and "source" in mount and "target" in mount):
                raise SpecError(f"options.mounts[{i}]", "expected 'SOURCE:TARGET[:ro]' or a dict with source and target")
        check_registry_auth(opts)

    def _connect(self, ctx: RunContext, engine: str | None) -> Any:
        client = ctx.state["client"] = connect_to(engine) if engine else connect()
        ctx.state["interrupter"] = Interrupter(client)
        return client

    def prepare(self, ctx: RunContext) -> None:
        opts = ctx.options
        client = self._connect(ctx, opts["docker_host"])
        image = opts["image"]
        policy = opts["pull"]
        if policy != "always" and _has_image(client, image):
            return
        if policy == "never":
            raise RunnerError(f"image {image!r} is not present and options.pull is 'never'")
        ctx.say(f"pulling image {image}")
        try:
            client.images.pull(image, auth_config=opts["auth"])
        except Exception as exc:
            if ctx.stopping:
                raise RunnerError(f"the pull of {image!r} was abandoned") from None
            raise api_error(f"image {image!r} not found locally and could not be pulled", exc) from None

    def start(self, ctx: RunContext) -> None:
        import docker.errors

        spec, opts, client = ctx.spec, ctx.spec.options, ctx.state["client"]
        labels = {f"runwright.label.{k}": v for k, v in spec.labels.items()}
        labels.update({LABEL_MANAGED: "true", LABEL_RUN: ctx.run_id, LABEL_EXECUTION: ctx.execution_id or ctx.run_id})
        network = opts.get("network")
        kwargs: dict[str, Any] = {
            "command": spec.argv, "environment": dict(spec.env), "labels": labels, "init": opts.get("init", True),
            "working_dir": spec.cwd, "user": opts.get("user"), "ports": opts.get("ports"),
            "mem_limit": opts.get("mem_limit"), "pids_limit": opts.get("pids_limit"),
            "mounts": [_mount(m) for m in opts.get("mounts", [])], "entrypoint": opts.get("entrypoint"),
            "privileged": opts.get("privileged", False), "detach": True,
        }
        if network in ("none", "host", "bridge"):
            kwargs["network_mode"] = network
        elif network:
            kwargs["network"] = network
        if "mem_limit" in opts:
            kwargs["memswap_limit"] = opts["mem_limit"]  # no swap: the limit is the limit
        if "cpus" in opts:
            kwargs["nano_cpus"] = int(float(opts["cpus"]) * 1e9)
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        try:
            container = client.containers.create(opts["image"], **kwargs)
        except docker.errors.ImageNotFound as exc:
            raise api_error(f"image {opts['image']!r} not found", exc) from None
        except docker.errors.APIError as exc:
            raise api_error("the engine refused the container", exc) from None
        ctx.state["container"] = container
        ctx.set_handle({"container_id": container.id, "engine": engine_url(opts.get("docker_host")),
                        "keep_container": bool(opts.get("keep_container", False))})
        ctx.metadata.update(container_id=container.id, container_name=container.name, image=opts["image"])
        if ctx.stopping:  # stopped while the engine created it: never start it (cleanup removes it)
            raise RunnerError("stopped before the container started")
        # Attach before start, as `docker run` does: attaching later can miss what a short
        # container printed before it exited.
        ctx.state["frames"] = client.api.attach(container.id, stdout=True, stderr=True, stream=True, demux=True)
        try:
            container.start()
        except docker.errors.APIError as exc:
            raise api_error("the container could not start", exc) from None

    def attach(self, ctx: RunContext) -> None:
        """Follow a container another worker started, from the handle: the output it wrote
        while no worker followed it (read back from the engine's log, from the dead worker's
        cursor on; not byte-exact for output that is not UTF-8, which the json-file driver
        stores replaced), then its live output and its exit."""
        import docker.errors

        handle = ctx.handle or {}
        container_id = str(handle.get("container_id", ""))
        if not container_id:
            raise RunnerError("the handle names no container")
        client = self._connect(ctx, str(handle.get("engine") or engine_url()))
        try:
            container = client.containers.get(container_id)
        except docker.errors.NotFound:
            raise RunnerError(f"container {container_id[:12]} no longer exists") from None
        except docker.errors.APIError as exc:
            raise api_error(f"container {container_id[:12]} could not be inspected", exc) from None
        ctx.state["container"] = container
        ctx.metadata.update(container_id=container.id, container_name=container.name,
                            image=ctx.options.get("image") or container.attrs.get("Config", {}).get("Image"))
        ctx.state["frames"] = iter(())
        if container.status == "created":
            # Its worker died between creating and starting it: the work never ran, so it
            # starts now, attached first as for a fresh run.
            ctx.state["frames"] = client.api.attach(container.id, stdout=True, stderr=True, stream=True, demux=True)
            try:
                container.start()
            except docker.errors.APIError as exc:
                raise api_error("the container could not start", exc) from None
            ctx.say(f"container {container.short_id} had been created but not started by the worker that died; started it")
            return
        # What the container wrote while no worker followed it is read back from the engine's
        # log (its log driver), past what the dead worker had passed on (its cursor, per
        # stream); the rest is followed live. The live attach comes first and the log is read
        # up to that moment, so nothing falls between them. (The engine's attach with logs=1
        # would do both at once, but Docker 20.10 replays nothing with it.)
        cursor = (ctx.resumed_metadata or {}).get("output_cursor")
        skip = {s: int(cursor.get(s, 0)) for s in ("stdout", "stderr")} if isinstance(cursor, dict) else {}
        until: float | None = None
        if container.status == "running":
            try:
                ctx.state["frames"] = client.api.attach(container.id, stdout=True, stderr=True, stream=True,
                                                        demux=True, logs=False)
                until = time.time()
            except docker.errors.APIError:
                pass  # it stopped in between: its whole log is read below, wait() reads its exit code
        backlog: list[tuple[str, bytes]] = []
        try:
            for stream in ("stdout", "stderr"):
                data = client.api.logs(container.id, stdout=stream == "stdout", stderr=stream == "stderr",
                                       until=until)
                backlog.append((stream, data[skip.get(stream, 0):]))
        except docker.errors.APIError as exc:  # a log driver that cannot be read back (none, syslog)
            ctx.say(f"the output container {container.short_id} wrote while no worker followed it cannot be read "
                    f"back ({exc.explanation or exc}); it is not in this log")
        ctx.state["backlog"] = backlog
        ctx.state["cursor"] = {"stdout": skip.get("stdout", 0), "stderr": skip.get("stderr", 0)}
        read_back = (f"from byte {skip['stdout']} of stdout and {skip['stderr']} of stderr, where the worker that died "
                     f"had passed it on (up to {CURSOR_EVERY:g}s of output before its death may appear twice)"
                     if skip else "from its start (the worker that died had kept no cursor)")
        ctx.say(f"re-attached to container {container.short_id} ({container.status}); the output it wrote meanwhile "
                f"is read back {read_back}")

    def stream(self, ctx: RunContext) -> None:
        # A cursor of what was passed on, per stream, for a worker that re-attaches: kept at
        # the first output and then at most every CURSOR_EVERY seconds (each is a write).
        cursor = ctx.state.setdefault("cursor", {"stdout": 0, "stderr": 0})
        for stream, data in ctx.state.pop("backlog", []):  # re-attached: what was written meanwhile
            if data:
                ctx.emit(stream, data)
                cursor[stream] += len(data)
        kept_at = 0.0
        for out, err in ctx.state["frames"]:
            if out:
                ctx.emit("stdout", out)
                cursor["stdout"] += len(out)
            if err:
                ctx.emit("stderr", err)
                cursor["stderr"] += len(err)
            now = time.monotonic()
            if now - kept_at >= CURSOR_EVERY:
                ctx.set_metadata(output_cursor=dict(cursor))
                kept_at = now

    def wait(self, ctx: RunContext) -> Exit:
        container = ctx.state["container"]
        status = container.wait()
        code = int(status.get("StatusCode", -1))
        container.reload()
        state = container.attrs.get("State", {})
        signum = signal_of_shell_code(code)
        sig = signal_name(signum) if signum is not None else None
        if state.get("OOMKilled"):
            limit = ctx.spec.options.get("mem_limit", "the engine's")
            return Exit(exit_code=code, signal=sig, reason=f"killed by the out-of-memory killer (memory limit {limit}); "
                        f"{describe_exit(code)}", metadata={"oom_killed": True})
        error = (status.get("Error") or {}).get("Message")
        return Exit(exit_code=code, signal=sig, reason=f"{describe_exit(code)}: {error}" if error else None)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        container = ctx.state.get("container")
        if container is None:
            interrupter = ctx.state.get("interrupter")
            if interrupter is not None:  # a pull or a create in flight: the engine abandons it
                if not interrupter.interrupt():
                    return Stop(False, "no container was started; no connection to the engine could be closed "
                                       "(its transport is not tracked): a pull may go on in the engine")
                return Stop(True, "no container was started; interrupted the call to the engine")
            return Stop(True, "no container was started")
        return _stop_container(container, grace)

    def cleanup(self, ctx: RunContext) -> None:
        container = ctx.state.get("container")
        client = ctx.state.get("client")
        if container is None and client is None:
            return  # nothing was made (the SDK may not even be installed: prepare said so)
        import docker.errors

        try:
            if container is not None and not ctx.options.get("keep_container", False):
                try:
                    container.remove(force=True)
                except docker.errors.NotFound:
                    pass  # removed already (cleanup runs again after an abandoned step)
        finally:
            if client is not None:
                client.close()

    # -- hooks: a container known only by its handle, and what crashed workers left -----
    @classmethod
    def probe(cls, handle: Mapping[str, Any]) -> Liveness:
        """ALIVE while the container runs; GONE once it exited or was removed; UNKNOWN
        when its engine does not answer."""
        import docker.errors

        try:
            client = connect_to(str(handle.get("engine") or engine_url()), timeout=10)
        except RunnerError:
            return Liveness.UNKNOWN
        try:
            container = client.containers.get(str(handle.get("container_id", "")))
            return Liveness.ALIVE if container.status in ("created", "running", "restarting", "paused") else Liveness.GONE
        except docker.errors.NotFound:
            return Liveness.GONE
        except Exception:
            return Liveness.UNKNOWN
        finally:
            client.close()

    @classmethod
    def stop_handle(cls, handle: Mapping[str, Any], grace: float) -> Stop:
        """Stop the handle's container (SIGTERM, SIGKILL after ``grace``) and remove it
        unless the run kept its container."""
        import docker.errors

        container_id = str(handle.get("container_id", ""))
        try:
            client = connect_to(str(handle.get("engine") or engine_url()), timeout=max(10.0, grace + 10))
        except RunnerError as exc:
            return Stop(False, str(exc))
        try:
            container = client.containers.get(container_id)
            stop = _stop_container(container, grace)
            if stop.confirmed and not handle.get("keep_container"):
                container.remove(force=True)
            return stop
        except docker.errors.NotFound:
            return Stop(True, f"container {container_id[:12]} was already gone")
        except Exception as exc:
            return Stop(False, f"stopping container {container_id[:12]} failed: {exc}")
        finally:
            client.close()

    @classmethod
    def sweep(cls, is_active: Callable[[str], bool]) -> list[str]:
        """Remove runwright's containers (by label) whose execution is not active; nothing
        on a host without an engine. Raises RunnerError when the engine does not answer."""
        if not engine_configured():
            return []
        return [f"container {cid[:12]}" for cid in sweep_containers(is_active)]


def _stop_container(container: Any, grace: float) -> Stop:
    try:
        container.stop(timeout=max(0, round(grace)))
        container.reload()
    except Exception as exc:  # already gone, or the engine went away: say so
        import docker.errors

        if isinstance(exc, docker.errors.NotFound):
            return Stop(True, "the container was already gone")
        return Stop(False, f"stopping the container failed: {exc}")
    if container.status in ("running", "restarting", "paused"):
        return Stop(False, f"the engine still reports the container {container.status}")
    return Stop(True, f"stopped the container (SIGTERM, SIGKILL after {grace:g}s)")


def _has_image(client: Any, image: str) -> bool:
    import docker.errors

    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        return False


def _mount(spec: str | dict[str, Any]) -> Any:
    from docker.types import Mount

    if isinstance(spec, str):
        parts = spec.split(":")
        source, target, mode = parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"
        kind = "bind" if source.startswith("/") else "volume"
        return Mount(target, source, type=kind, read_only=mode == "ro")
    kind = spec.get("type") or ("bind" if str(spec["source"]).startswith("/") else "volume")
    return Mount(spec["target"], spec["source"], type=kind, read_only=bool(spec.get("read_only", False)))


__all__ = ["DockerRunner"]

