"""DockerRunner on the real engine: output, options, limits, failures, timeout, cancel, sweep."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from runwright.logging_core import ExecutionLogger, MemoryStore
from runwright.runners import CancelToken, MemoryRecorder, RunSpec, Status, run
from runwright.runners.docker_engine import LABEL_EXECUTION, LABEL_MANAGED, sweep_containers
from tests.infra.docker_engine import free_port


def dspec(busybox: str, command: list[str] | str, **kwargs) -> RunSpec:  # type: ignore[no-untyped-def]
    options = {"image": busybox, **kwargs.pop("options", {})}
    return RunSpec(command, runner="docker", options=options, shell=isinstance(command, str), **kwargs)


def test_streams_stdout_and_stderr_separately_with_exit_code(busybox) -> None:  # type: ignore[no-untyped-def]
    rec = MemoryRecorder()
    result = run(dspec(busybox, "echo out; echo err >&2; printf 'a\\000b\\377'; exit 3"), rec)
    assert result.status == Status.FAILED and result.exit_code == 3
    assert rec.stdout == b"out\na\x00b\xff" and rec.stderr == b"err\n"
    assert result.metadata["container_id"] and result.metadata["image"] == busybox


def test_output_is_live(busybox) -> None:  # type: ignore[no-untyped-def]
    arrivals: list[float] = []

    class Probe(MemoryRecorder):
        def output(self, stream, data):  # type: ignore[no-untyped-def]
            arrivals.append(time.monotonic())
            super().output(stream, data)

    t0 = time.monotonic()
    run(dspec(busybox, "echo first; sleep 1; echo second"), Probe())
    assert arrivals[0] - t0 < arrivals[-1] - t0 - 0.7, "the first line must arrive a second before the last"


def test_env_workdir_user_and_labels(busybox, docker_client) -> None:  # type: ignore[no-untyped-def]
    logger = ExecutionLogger(MemoryStore(), structured_log=False, metrics=False)
    seen: dict[str, str] = {}

    class Spy(ExecutionLogger):
        pass

    def peek() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not seen:
            for c in docker_client.containers.list(filters={"label": LABEL_MANAGED}):
                seen.update(c.labels)
            time.sleep(0.05)

    watcher = threading.Thread(target=peek)
    watcher.start()
    spec = dspec(busybox, 'echo "$GREETING from $(pwd) as $(id -u)"; sleep 1', env={"GREETING": "hi"}, cwd="/tmp",
                 labels={"team": "infra"}, options={"user": "65534"})
    result = logger.run(spec)
    watcher.join()
    assert result.ok and result.stdout_tail == "hi from /tmp as 65534\n"
    assert seen[LABEL_EXECUTION] == f"{logger.store.key}:1", "the store's key and the execution id"
    assert seen[LABEL_MANAGED] == "true" and seen["runwright.label.team"] == "infra"


def test_networks_and_published_ports(busybox, docker_client) -> None:  # type: ignore[no-untyped-def]
    rec = MemoryRecorder()
    run(dspec(busybox, "ls /sys/class/net", options={"network": "none"}), rec)
    assert rec.stdout.split() == [b"lo"]
    net = docker_client.networks.create("rw-test-net")
    try:
        rec = MemoryRecorder()
        run(dspec(busybox, "ls /sys/class/net", options={"network": "rw-test-net"}), rec)
        assert sorted(rec.stdout.split()) == [b"eth0", b"lo"]
    finally:
        net.remove()
    port = free_port()
    cancel = CancelToken()
    spec = dspec(busybox, "mkdir -p /www && echo served > /www/index.html && httpd -f -p 8080 -h /www",
                 options={"ports": {"8080/tcp": ("127.0.0.1", port)}}, grace_period=1)
    results: list = []
    t = threading.Thread(target=lambda: results.append(run(spec, cancel=cancel)))
    t.start()
    try:
        body = b""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and body != b"served\n":
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("GET", "/index.html")
                body = conn.getresponse().read()
            except OSError:
                time.sleep(0.1)
        assert body == b"served\n"
    finally:
        cancel.cancel("test done")
        t.join(30)
    assert results[0].status == Status.CANCELLED


def test_limits_are_applied_and_oom_is_failed_with_the_reason(busybox, docker_client) -> None:  # type: ignore[no-untyped-def]
    spec = dspec(busybox, "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max",
                 options={"pids_limit": 20, "cpus": 0.5, "mem_limit": "64m", "keep_container": True})
    result = run(spec)
    try:
        container = docker_client.containers.get(result.metadata["container_id"])
        host = container.attrs["HostConfig"]
        assert (host["PidsLimit"], host["NanoCpus"], host["Memory"]) == (20, 500_000_000, 64 * 1024 * 1024)
        assert result.stdout_tail.strip() == "20"
    finally:
        docker_client.containers.get(result.metadata["container_id"]).remove(force=True)
    # The shell holds the whole 200 MB in a variable: far past 32 MiB.
    oom = run(dspec(busybox, "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}", options={"mem_limit": "32m"}))
    assert oom.status == Status.FAILED and oom.metadata.get("oom_killed") is True
    assert "out-of-memory killer (memory limit 32m)" in oom.error


def test_bind_mount_and_volume(busybox, tmp_path, docker_client) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "in.txt").write_text("from host\n")
    result = run(dspec(busybox, "cat /data/in.txt; echo back > /data/out.txt; echo v > /vol/x; cat /vol/x",
                       options={"mounts": [f"{tmp_path}:/data", "rw-test-vol:/vol"]}))
    assert result.ok and result.stdout_tail == "from host\nv\n"
    assert (tmp_path / "out.txt").read_text() == "back\n"
    docker_client.volumes.get("rw-test-vol").remove()
    ro = run(dspec(busybox, "echo x > /data/y", options={"mounts": [f"{tmp_path}:/data:ro"]}))
    assert ro.status == Status.FAILED and "Read-only file system" in ro.stderr_tail


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"image": "runwright-test/missing:1", "pull": "missing"},
         "image 'runwright-test/missing:1' not found locally and could not be pulled"),
        ({"image": "runwright-test/missing:1", "pull": "never"}, "is not present and options.pull is 'never'"),
        ({"docker_host": "unix:///nonexistent/docker.sock"}, "Docker engine unreachable at unix:///nonexistent/docker.sock"),
        ({"mounts": ["/no/such/host/dir:/data"]}, "the engine refused the container"),
        ({"network": "no-such-network"}, "no-such-network"),
    ],
)
def test_cannot_run_is_an_error_that_names_the_cause(busybox, options, message) -> None:  # type: ignore[no-untyped-def]
    options = {"image": busybox, **options}
    result = run(RunSpec(["true"], runner="docker", options=options))
    assert result.status == Status.ERROR
    assert message in result.error


def test_invalid_options_are_refused_by_name(busybox) -> None:  # type: ignore[no-untyped-def]
    for options, field in (({}, "options.image"), ({"image": busybox, "mounts": ["nocolon"]}, "options.mounts[0]"),
                           ({"image": busybox, "pull": "sometimes"}, "options.pull"),
                           ({"image": busybox, "cpu": 1}, "options.cpu")):
        result = run(RunSpec(["true"], runner="docker", options=options))
        assert result.status == Status.ERROR and field in result.error


def test_timeout_stops_and_removes_the_container(busybox, docker_client) -> None:  # type: ignore[no-untyped-def]
    result = run(dspec(busybox, ["sleep", "300"], timeout=1, grace_period=60))
    # The container's init passes SIGTERM on, so sleep ends by it (128 + 15), never by the
    # SIGKILL at the end of the grace period (137).
    assert result.status == Status.TIMEOUT and result.exit_code == 143, (result.exit_code, result.error)
    assert "stopped the container" in result.error
    # The autouse fixture asserts no runwright container is left.


def test_sigterm_ignored_is_killed_after_the_grace_period(busybox) -> None:  # type: ignore[no-untyped-def]
    result = run(dspec(busybox, "trap '' TERM; while :; do sleep 0.1; done", timeout=0.5, grace_period=1))
    # SIGTERM was ignored: what ended the container was the SIGKILL after the grace period.
    assert result.status == Status.TIMEOUT and result.exit_code == 137, (result.exit_code, result.error)


def test_cancel_from_another_thread(busybox) -> None:  # type: ignore[no-untyped-def]
    cancel = CancelToken()
    threading.Timer(1.0, cancel.cancel, args=("operator",)).start()
    result = run(dspec(busybox, ["sleep", "300"], grace_period=2), cancel=cancel)
    assert result.status == Status.CANCELLED and "operator" in result.error


def test_keep_container(busybox, docker_client) -> None:  # type: ignore[no-untyped-def]
    result = run(dspec(busybox, ["true"], options={"keep_container": True}))
    container = docker_client.containers.get(result.metadata["container_id"])
    assert container.status == "exited"
    container.remove()


CRASHING_WORKER = """
import sys
from runwright.runners import RunSpec, get_runner
get_runner("docker").run(RunSpec(["sleep", "300"], runner="docker", options={"image": sys.argv[1]}), execution_id="crashed-run-1")
"""


def test_sweep_removes_containers_of_runs_that_are_no_longer_active(busybox, docker_client) -> None:  # type: ignore[no-untyped-def]
    worker = subprocess.Popen([sys.executable, "-c", CRASHING_WORKER, busybox])
    deadline = time.monotonic() + 20
    while not docker_client.containers.list(filters={"label": f"{LABEL_EXECUTION}=crashed-run-1"}):
        assert time.monotonic() < deadline, "the worker never started its container"
        time.sleep(0.1)
    os.kill(worker.pid, signal.SIGKILL)  # the worker dies; its container does not
    worker.wait()
    assert docker_client.containers.list(filters={"label": f"{LABEL_EXECUTION}=crashed-run-1"})
    removed = sweep_containers(lambda owner: owner != "crashed-run-1", docker_client)
    assert len(removed) == 1
    assert not docker_client.containers.list(all=True, filters={"label": f"{LABEL_EXECUTION}=crashed-run-1"})


def test_secrets_masked_in_container_output(busybox) -> None:  # type: ignore[no-untyped-def]
    result = run(dspec(busybox, 'echo "token=$API_TOKEN"', env={"API_TOKEN": "abc123-secret-xyz"}))
    assert result.stdout_tail == "token=***\n"


def test_cli_runs_a_container_with_options(busybox, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from pathlib import Path

    cli = str(Path(sys.executable).parent / "runwright")
    env = dict(os.environ, RUNWRIGHT_HOME=str(tmp_path))
    out = subprocess.run([cli, "run", "-r", "docker", "-o", f"image={busybox}", "-o", "pids_limit=10", "--",
                          "sh", "-c", "echo in-container; exit 4"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 4 and out.stdout == "in-container\n"
    bad = subprocess.run([cli, "run", "-r", "docker", "--", "true"], env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "options.image: is required for the docker runner" in bad.stderr
