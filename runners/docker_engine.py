"""What the Docker runners share: connecting to the engine, labels, and the sweep that
removes containers of runs that are no longer active (after a worker crash)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from runners.base import RunnerError

#: Every container runwright starts carries these labels.
LABEL_MANAGED = "runwright.managed"
LABEL_RUN = "runwright.run_id"
LABEL_EXECUTION = "runwright.execution"


def connect(base_url: str | None = None, timeout: float = 60) -> Any:
    """A DockerClient that has answered a ping; RunnerError naming the engine otherwise."""
    try:
        import docker
    except ImportError:  # pragma: no cover - the extra is part of the dev install
        raise RunnerError("the Docker runners need the docker SDK: pip install 'runwright[docker]'") from None
    where = base_url or "the default engine (DOCKER_HOST or /var/run/docker.sock)"
    try:
        client = docker.DockerClient(base_url=base_url, timeout=timeout) if base_url else docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:
        raise RunnerError(f"Docker engine unreachable at {where}: {_reason(exc)}") from None
    return client


def _reason(exc: BaseException) -> str:
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return str(explanation)
    text = str(exc)
    return text.split("(Caused by")[0].strip() or type(exc).__name__


def api_error(what: str, exc: BaseException) -> RunnerError:
    return RunnerError(f"{what}: {_reason(exc)}")


def sweep_containers(is_active: Callable[[str], bool], client: Any = None) -> list[str]:
    """Remove runwright's containers whose execution is no longer active; returns their ids.

    ``is_active`` gets the value of the ``runwright.execution`` label (or the run id for a
    run that was not recorded) and says whether that run may still own its container.
    """
    client = client or connect()
    removed = []
    for container in client.containers.list(all=True, filters={"label": LABEL_MANAGED}):
        labels = container.labels or {}
        owner = labels.get(LABEL_EXECUTION) or labels.get(LABEL_RUN, "")
        if not is_active(owner):
            container.remove(force=True)
            removed.append(container.id)
    return removed


def active_set(ids: Iterable[Any]) -> Callable[[str], bool]:
    known = {str(i) for i in ids}
    return lambda owner: owner in known
