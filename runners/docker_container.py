"""DockerRunner: a command in a container, through the Docker SDK.

Stdout and stderr are streamed separately as they arrive (attach, demultiplexed). The
container runs with an init process by default, so a stop is prompt; timeout and cancel stop
it with the grace period, then kill it; it is removed afterwards unless the spec keeps it.
"""

from __future__ import annotations

from typing import Any, ClassVar

from runners.base import Exit, RunContext, Runner, RunnerError
from runners.docker_engine import LABEL_EXECUTION, LABEL_MANAGED, LABEL_RUN, api_error, connect
from runners.exitcodes import describe_exit, signal_name
from runners.spec import RunSpec, SpecError

PULL_POLICIES = ("missing", "always", "never")


class DockerRunner(Runner):
    name = "docker"
    option_types: ClassVar = {
        "image": str, "mounts": list, "user": str, "network": str, "ports": dict, "mem_limit": (str, int),
        "cpus": (int, float), "pids_limit": int, "init": bool, "keep_container": bool, "pull": str,
        "auth": dict, "docker_host": str, "entrypoint": (str, list), "privileged": bool,
    }

    def validate(self, spec: RunSpec) -> None:
        super().validate(spec)
        opts = spec.options
        if not opts.get("image"):
            raise SpecError("options.image", "is required for the docker runner")
        if spec.stdin is not None:
            raise SpecError("stdin", "is not supported by the docker runner")
        if opts.get("pull", "missing") not in PULL_POLICIES:
            raise SpecError("options.pull", f"must be one of {', '.join(PULL_POLICIES)}")
        for i, mount in enumerate(opts.get("mounts", [])):
            if isinstance(mount, str):
                if mount.count(":") not in (1, 2) or not all(mount.split(":")[:2]):
                    raise SpecError(f"options.mounts[{i}]", f"expected SOURCE:TARGET[:ro], got {mount!r}")
            elif not (isinstance(mount, dict) and "source" in mount and "target" in mount):
                raise SpecError(f"options.mounts[{i}]", "expected 'SOURCE:TARGET[:ro]' or a dict with source and target")
        auth = opts.get("auth")
        if auth is not None and not {"username", "password"} <= set(auth):
            raise SpecError("options.auth", "needs username and password")

    def prepare(self, ctx: RunContext) -> None:
        opts = ctx.spec.options
        client = ctx.state["client"] = connect(opts.get("docker_host"))
        image = opts["image"]
        policy = opts.get("pull", "missing")
        if policy != "always" and _has_image(client, image):
            return
        if policy == "never":
            raise RunnerError(f"image {image!r} is not present and options.pull is 'never'")
        ctx.say(f"pulling image {image}")
        try:
            client.images.pull(image, auth_config=opts.get("auth"))
        except Exception as exc:
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
        ctx.metadata.update(container_id=container.id, container_name=container.name, image=opts["image"])
        # Attach before start, as `docker run` does: attaching later can miss what a short
        # container printed before it exited.
        ctx.state["frames"] = client.api.attach(container.id, stdout=True, stderr=True, stream=True, demux=True)
        try:
            container.start()
        except docker.errors.APIError as exc:
            raise api_error("the container could not start", exc) from None

    def stream(self, ctx: RunContext) -> None:
        for out, err in ctx.state["frames"]:
            if out:
                ctx.emit("stdout", out)
            if err:
                ctx.emit("stderr", err)

    def wait(self, ctx: RunContext) -> Exit:
        container = ctx.state["container"]
        status = container.wait()
        code = int(status.get("StatusCode", -1))
        container.reload()
        state = container.attrs.get("State", {})
        sig = signal_name(code - 128) if 128 < code < 128 + 65 else None
        if state.get("OOMKilled"):
            limit = ctx.spec.options.get("mem_limit", "the engine's")
            return Exit(exit_code=code, signal=sig, reason=f"killed by the out-of-memory killer (memory limit {limit}); "
                        f"{describe_exit(code)}", metadata={"oom_killed": True})
        error = (status.get("Error") or {}).get("Message")
        return Exit(exit_code=code, signal=sig, reason=f"{describe_exit(code)}: {error}" if error else None)

    def terminate(self, ctx: RunContext, grace: float) -> str:
        container = ctx.state.get("container")
        if container is None:
            return "nothing to stop"
        try:
            container.stop(timeout=max(0, round(grace)))
        except Exception as exc:  # already gone, or the engine went away: say so
            return f"stopping the container failed: {exc}"
        return f"stopped the container (SIGTERM, SIGKILL after {grace:g}s)"

    def cleanup(self, ctx: RunContext) -> None:
        container = ctx.state.get("container")
        client = ctx.state.get("client")
        try:
            if container is not None and not ctx.spec.options.get("keep_container", False):
                container.remove(force=True)
        finally:
            if client is not None:
                client.close()


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
