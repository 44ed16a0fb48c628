"""What the Docker runners share: connecting to the engine, labels, and the sweep that
removes containers of runs that are no longer active (after a worker crash)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from typing import Any

from runwright.runners.base import RunnerError
from runwright.runners.spec import SpecError

#: Every container runwright starts carries these labels.
LABEL_MANAGED = "runwright.managed"
LABEL_RUN = "runwright.run_id"
LABEL_EXECUTION = "runwright.execution"


DEFAULT_ENGINE = "unix:///var/run/docker.sock"


def check_registry_auth(options: Mapping[str, Any]) -> None:
    """Raise SpecError (``options.auth``) unless the registry credentials, when given, have
    both a ``username`` and a ``password``."""
    auth = options.get("auth")
    if auth is not None and not {"username", "password"} <= set(auth):
        raise SpecError("options.auth", "needs username and password")


def engine_url(base_url: str | None = None) -> str:
    """The engine a client of ``base_url`` talks to, as a URL to reconnect to later."""
    return base_url or os.environ.get("DOCKER_HOST") or DEFAULT_ENGINE


def engine_configured() -> bool:
    """Whether this host has an engine to talk to at all (a socket, or DOCKER_HOST)."""
    return bool(os.environ.get("DOCKER_HOST")) or os.path.exists(DEFAULT_ENGINE[len("unix://"):])


def connect_to(engine: str, timeout: float = 60) -> Any:
    """A client of the engine a handle names (the environment's TLS settings apply when it
    is the environment's engine)."""
    return connect(None if engine == engine_url() else engine, timeout)


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


class Interrupter:
    """Lets another thread interrupt the blocking calls of one run's DockerClient.

    The SDK has no way to cancel a request in flight (an image pull waiting on a registry
    that never answers, a build context upload); shutting down the request's socket makes
    the blocked call fail at once, and the engine abandons the operation when its client
    goes away. Every connection the client takes from its pools is remembered for that: the
    pools come from each adapter's ``get_connection_with_tls_context`` (requests >= 2.32,
    the plain HTTP adapter of a tcp:// engine) or ``get_connection`` (the SDK's unix socket
    adapter), whichever the adapter has. A transport whose connections are not urllib3
    pools (ssh through the ssh command) is not tracked: ``interrupt`` then says it reached
    no connection, and the caller reports the stop as not confirmed.
    """

    def __init__(self, client: Any) -> None:
        self._conns: list[Any] = []
        self.interrupted = False
        for adapter in client.api.adapters.values():
            for name in ("get_connection_with_tls_context", "get_connection"):
                original = getattr(adapter, name, None)
                if original is not None:
                    setattr(adapter, name, self._tracking(original))

    def _tracking(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def get_pool(*args: Any, **kwargs: Any) -> Any:
            pool = original(*args, **kwargs)
            take = getattr(pool, "_get_conn", None)
            if take is not None and not getattr(pool, "_runwright_tracked", False):
                def _get_conn(timeout: float | None = None, _take: Any = take) -> Any:
                    conn = _take(timeout)
                    self._conns.append(conn)
                    del self._conns[:-16]
                    return conn

                pool._get_conn = _get_conn
                pool._runwright_tracked = True
            return pool

        return get_pool

    def interrupt(self) -> int:
        """Shut down every socket the client uses: its blocked calls fail at once. Returns
        how many sockets were shut down (0: no call of this client could be reached)."""
        self.interrupted = True
        reached = 0
        for conn in list(self._conns):
            sock = getattr(conn, "sock", None)
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                    reached += 1
                except OSError:
                    pass
        return reached


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

