"""The contract suite (runwright.runners.testing) on DockerRunner and DockerImageRunner, on the
real engine; and a cancel during an image pull from a registry that never answers."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runwright.runners import CancelToken, MemoryRecorder, RunSpec, Status, get_runner
from runwright.runners.docker_container import DockerRunner
from runwright.runners.docker_image import DockerImageRunner
from runwright.runners.testing import RunnerCase, RunnerContract, eventually
from tests.infra.docker_engine import BUSYBOX, ensure_busybox_image, ensure_engine

DOCKER_WORK: dict[str, Any] = {
    "quick": ["sh", "-c", "echo hello-contract"],
    "long": ["sh", "-c", "echo started; exec sleep 300"],
    "resumable": ["sh", "-c", "echo first; sleep 3; echo last; exit 3"],
}


@pytest.fixture(autouse=True, scope="module")
def _engine() -> None:
    ensure_engine()
    ensure_busybox_image()


def docker_spec(kind: str, **overrides: Any) -> RunSpec:
    return RunSpec(DOCKER_WORK[kind], runner="docker", options={"image": BUSYBOX}, **overrides)


_LONG_BUILD = Path(tempfile.mkdtemp(prefix="rw-contract-build-"))
(_LONG_BUILD / "Dockerfile").write_text(f"FROM {BUSYBOX}\nRUN echo building && sleep 300\n")


def image_spec(kind: str, **overrides: Any) -> RunSpec:
    if kind == "quick":
        return RunSpec(["tag", BUSYBOX, "rw-test/contract:1"], runner="docker-image", **overrides)
    return RunSpec(["build", str(_LONG_BUILD)], runner="docker-image", options={"tags": ["rw-test/contract-long:1"],
                                                                               "nocache": True}, **overrides)


class TestDockerRunnerContract(RunnerContract):
    case = RunnerCase(DockerRunner, docker_spec, quick_output=b"hello-contract\n")


class TestDockerImageRunnerContract(RunnerContract):
    case = RunnerCase(DockerImageRunner, image_spec, quick_output=b"tagged")


@pytest.fixture
def silent_registry() -> Iterator[tuple[int, list[socket.socket]]]:
    """A TCP server on 127.0.0.1 that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1], accepted
    server.close()
    for conn in accepted:
        conn.close()


@pytest.fixture
def tcp_engine() -> Iterator[str]:
    """The local engine reached over tcp:// (a forwarder from 127.0.0.1 to its unix socket), as
    a remote engine is: the SDK then talks through requests' plain HTTP adapter."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    engine_socket = (os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock").removeprefix("unix://")

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):  # one side gone: the other goes too, as a real connection would
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def accept() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX)
            upstream.connect(engine_socket)
            threading.Thread(target=pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=pump, args=(upstream, client), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    server.close()


@pytest.mark.parametrize("engine", ["unix", "tcp"])
@pytest.mark.parametrize("runner", ["docker", "docker-image"])
def test_cancel_during_a_pull_from_a_registry_that_never_answers(  # type: ignore[no-untyped-def]
    runner: str, engine: str, silent_registry, request,
) -> None:
    # Regression (tcp): over a tcp:// engine no connection was tracked, the stop closed none,
    # yet it was reported confirmed while the pull went on in the engine.
    port, accepted = silent_registry
    image = f"127.0.0.1:{port}/never/answers:1"
    host = {"docker_host": request.getfixturevalue("tcp_engine")} if engine == "tcp" else {}
    if runner == "docker":
        spec = RunSpec(["true"], runner="docker", grace_period=5, options={"image": image, "pull": "always", **host})
    else:
        spec = RunSpec(["pull", image], runner="docker-image", grace_period=5, options=host)
    cancel = CancelToken()
    rec = MemoryRecorder()
    # Cancel once the engine is talking to the registry: the pull is then stuck in prepare (docker) or start.
    threading.Thread(target=lambda: (eventually(lambda: bool(accepted), "the engine never contacted the registry"),
                                     cancel.cancel("operator")), daemon=True).start()
    result = get_runner(runner).run(spec, rec, cancel)
    assert result.status == Status.CANCELLED and "operator" in result.error
    assert result.metadata["stop_confirmed"] is True
    assert "abandoned" not in result.error, "the pull must be interrupted, not left blocked"
    # The engine gives up on the registry once its client went away.
    def registry_dropped() -> bool:
        for conn in accepted:
            conn.setblocking(False)
            try:
                if conn.recv(65536) == b"":
                    return True
            except BlockingIOError:
                continue
            except OSError:
                return True
        return False

    eventually(registry_dropped, "the engine kept its connection to the registry after the cancel")
