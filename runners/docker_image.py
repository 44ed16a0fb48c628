"""DockerImageRunner: build, pull, push and tag images as recorded runs.

    command ["build", CONTEXT_DIR]   options: tags, dockerfile, buildargs, nocache, pull, target
    command ["pull", REF]            options: auth {username, password}
    command ["push", REF]            options: auth
    command ["tag", SOURCE, TARGET]

The engine's progress streams into the log as it comes. Build args under secret-looking
names and registry passwords are masked like every other secret; a refused login or a
failed push is an ``error``, a failing build step is ``failed``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from runwright.runners.base import Exit, RunContext, Runner, RunnerError
from runwright.runners.docker_engine import Interrupter, api_error, check_registry_auth, connect
from runwright.runners.hooks import Stop
from runwright.runners.options import Option
from runwright.runners.spec import RunSpec, SpecError

ARITY = {"build": 2, "pull": 2, "push": 2, "tag": 3}


class DockerImageRunner(Runner):
    """Build, pull, push and tag images through the Docker engine."""

    name = "docker-image"
    #: Deleting what the run made may wait on the engine, the cluster or the server.
    cleanup_seconds = 30.0
    options = (
        Option("tags", list, help="Tags for a build's image (the first names it; at least one for a build)."),
        Option("dockerfile", str, help="Dockerfile path inside the build context."),
        Option("buildargs", dict, default={}, help="Build arguments; those under secret-looking names are masked."),
        Option("nocache", bool, default=False, help="Build without the layer cache."),
        Option("pull", bool, default=False, help="Pull newer base images during a build."),
        Option("target", str, help="Build stage to stop at."),
        Option("auth", dict, help="Registry credentials for pull and push: {username, password}; the password is masked."),
        Option("docker_host", str, help="Engine URL (default: DOCKER_HOST or the local socket)."),
    )

    def validate(self, spec: RunSpec) -> None:
        super().validate(spec)
        argv = spec.argv
        action = argv[0]
        if action not in ARITY:
            raise SpecError("command[0]", f"expected one of {', '.join(ARITY)}, got {action!r}")
        if len(argv) != ARITY[action]:
            want = {"build": "build CONTEXT_DIR", "pull": "pull REF", "push": "push REF", "tag": "tag SOURCE TARGET"}
            raise SpecError("command", f"expected `{want[action]}`")
        if action == "build" and not spec.options.get("tags"):
            raise SpecError("options.tags", "a build needs at least one tag")
        for key, value in spec.options.get("buildargs", {}).items():
            if not isinstance(value, str):
                raise SpecError(f"options.buildargs[{key!r}]", f"must be a string, got {type(value).__name__}")
        check_registry_auth(spec.options)

    def prepare(self, ctx: RunContext) -> None:
        client = ctx.state["client"] = connect(ctx.options["docker_host"])
        ctx.state["interrupter"] = Interrupter(client)
        if ctx.spec.argv[0] == "build" and not os.path.isdir(ctx.spec.argv[1]):
            raise RunnerError(f"build context {ctx.spec.argv[1]!r} is not a directory")

    def start(self, ctx: RunContext) -> None:
        action, *args = ctx.spec.argv
        api, opts = ctx.state["client"].api, ctx.spec.options
        auth = opts.get("auth")
        try:
            if action == "build":
                tags = opts["tags"]
                ctx.state["progress"] = api.build(
                    path=args[0], tag=tags[0], dockerfile=opts.get("dockerfile"), buildargs=opts.get("buildargs"),
                    nocache=opts.get("nocache", False), pull=opts.get("pull", False), target=opts.get("target"),
                    rm=True, forcerm=True, decode=True,
                )
            elif action in ("pull", "push"):
                repo, tag = _split(args[0])
                if auth:
                    self._login(ctx, repo, auth)
                call = api.pull if action == "pull" else api.push
                ctx.state["progress"] = call(repo, tag=tag, stream=True, decode=True, auth_config=auth)
            else:
                repo, tag = _split(args[1])
                api.tag(args[0], repo, tag=tag)
                ctx.emit("stdout", f"tagged {args[0]} as {args[1]}\n".encode())
        except RunnerError:
            raise
        except Exception as exc:
            raise api_error(f"docker {action} {' '.join(args)} was refused", exc) from None

    def _login(self, ctx: RunContext, repo: str, auth: dict[str, str]) -> None:
        registry = repo.split("/", 1)[0] if "/" in repo and ("." in repo.split("/")[0] or ":" in repo.split("/")[0]) else None
        try:
            ctx.state["client"].login(username=auth["username"], password=auth["password"], registry=registry, reauth=True)
        except Exception as exc:
            raise api_error(f"login to {registry or 'the default registry'} as {auth['username']!r} failed", exc) from None
        ctx.say(f"logged in to {registry or 'the default registry'} as {auth['username']}")

    def stream(self, ctx: RunContext) -> None:
        progress: Iterator[dict[str, Any]] | None = ctx.state.get("progress")
        if progress is None:
            return
        for item in progress:
            if "error" in item:
                ctx.state["failure"] = item.get("error") or json.dumps(item.get("errorDetail"))
                ctx.emit("stderr", (str(ctx.state["failure"]).rstrip("\n") + "\n").encode())
            elif "stream" in item:
                ctx.emit("stdout", item["stream"].encode())
            elif "status" in item:
                line = " ".join(str(item[k]) for k in ("id", "status", "progress") if item.get(k))
                ctx.emit("stdout", (line + "\n").encode())
            if "aux" in item:
                ctx.event("docker.aux", item["aux"])
                if "ID" in item["aux"]:
                    ctx.state["image_id"] = item["aux"]["ID"]

    def wait(self, ctx: RunContext) -> Exit:
        action = ctx.spec.argv[0]
        failure = ctx.state.get("failure")
        if failure:
            # A failing build step is the work failing; a refused pull or push could not run.
            if action == "build":
                return Exit(exit_code=1, reason=f"build failed: {failure}")
            return Exit(error=f"docker {action} failed: {failure}")
        metadata: dict[str, Any] = {"action": action}
        if action == "build":
            api, tags = ctx.state["client"].api, ctx.spec.options["tags"]
            image_id = ctx.state.get("image_id") or api.inspect_image(tags[0])["Id"]
            for extra in tags[1:]:
                repo, tag = _split(extra)
                api.tag(image_id, repo, tag=tag)
            metadata.update(image_id=image_id, tags=tags)
        return Exit(exit_code=0, metadata=metadata)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        # Shutting the connection down makes the engine abandon a build, pull or push.
        interrupter = ctx.state.get("interrupter")
        if interrupter is None:
            return Stop(True, "nothing was asked of the engine yet")
        if not interrupter.interrupt():
            return Stop(False, "no connection to the engine could be closed (its transport is not tracked): "
                               "the operation may go on in the engine")
        return Stop(True, "closed the connection to the engine, which abandons the operation")

    def cleanup(self, ctx: RunContext) -> None:
        client = ctx.state.get("client")
        if client is not None:
            client.close()


def _split(ref: str) -> tuple[str, str | None]:
    """'host:5000/team/app:1.2' -> ('host:5000/team/app', '1.2')."""
    name, _, tag = ref.rpartition(":")
    if name and "/" not in tag:
        return name, tag
    return ref, None
