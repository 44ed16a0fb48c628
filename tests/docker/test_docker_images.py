"""DockerImageRunner on the real engine and a real registry with authentication."""

from __future__ import annotations

import pytest

from runwright.logging_core import ExecutionLogger, MemoryStore
from runwright.runners import MemoryRecorder, RunSpec, Status, run


def image_spec(*command: str, **options) -> RunSpec:  # type: ignore[no-untyped-def]
    return RunSpec(list(command), runner="docker-image", options=options)


@pytest.fixture
def context(tmp_path, busybox):  # type: ignore[no-untyped-def]
    (tmp_path / "Dockerfile").write_text(
        f"FROM {busybox}\nARG NPM_TOKEN\nARG FLAVOUR=plain\n"
        "RUN echo \"building $FLAVOUR with token $NPM_TOKEN\" && echo $FLAVOUR > /flavour\n"
        'CMD ["cat", "/flavour"]\n'
    )
    return tmp_path


def test_build_streams_its_log_masks_secret_build_args_and_tags(context, docker_client, busybox) -> None:  # type: ignore[no-untyped-def]
    token = "npm_Zx9-very-secret-token"
    logger = ExecutionLogger(MemoryStore(), structured_log=False, metrics=False)
    spec = image_spec("build", str(context), tags=["rw-test/app:1.0", "rw-test/app:latest"], nocache=True,
                      buildargs={"NPM_TOKEN": token, "FLAVOUR": "salted"})
    result = logger.run(spec)
    assert result.ok, result.error
    log = b"".join(c.data for c in logger.read_log(1))
    assert b"building salted with token ***" in log and token.encode() not in log
    assert token not in str(logger.get(1)) and token not in result.to_json()
    assert result.metadata["tags"] == ["rw-test/app:1.0", "rw-test/app:latest"]
    image = docker_client.images.get("rw-test/app:latest")
    assert image.id == result.metadata["image_id"] == docker_client.images.get("rw-test/app:1.0").id
    rec = MemoryRecorder()
    run(RunSpec(["cat", "/flavour"], runner="docker", options={"image": "rw-test/app:1.0"}), rec)
    assert rec.stdout == b"salted\n"


def test_a_failing_build_step_is_failed(tmp_path, busybox) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "Dockerfile").write_text(f"FROM {busybox}\nRUN echo about to fail && exit 7\n")
    result = run(image_spec("build", str(tmp_path), tags=["rw-test/broken:1"]))
    assert result.status == Status.FAILED
    assert "build failed" in result.error and "returned a non-zero code: 7" in result.error


def test_build_input_errors() -> None:
    assert "options.tags" in run(image_spec("build", "/tmp")).error
    assert "is not a directory" in run(image_spec("build", "/no/such/ctx", tags=["x:1"])).error
    assert "command[0]: expected one of build, pull, push, tag" in run(image_spec("compile", "x")).error
    assert "expected `tag SOURCE TARGET`" in run(image_spec("tag", "x")).error


def test_tag_push_and_pull_with_credentials(registry, busybox, docker_client) -> None:  # type: ignore[no-untyped-def]
    target = f"{registry.address}/team/busybox:v1"
    auth = {"username": registry.user, "password": registry.password}
    assert run(image_spec("tag", busybox, target)).ok
    logger = ExecutionLogger(MemoryStore(), structured_log=False, metrics=False)
    pushed = logger.run(image_spec("push", target, auth=auth))
    assert pushed.ok, pushed.error
    log = b"".join(c.data for c in logger.read_log(1))
    assert b"logged in to " + registry.address.encode() in log and b"v1: digest: sha256:" in log
    assert registry.password not in str(logger.get(1)) and registry.password.encode() not in log
    docker_client.images.remove(target)
    pulled = run(image_spec("pull", target, auth=auth))
    assert pulled.ok, pulled.error
    assert docker_client.images.get(target).id == docker_client.images.get(busybox).id
    docker_client.images.remove(target)


def test_a_refused_login_is_an_error(registry, busybox) -> None:  # type: ignore[no-untyped-def]
    target = f"{registry.address}/team/busybox:v2"
    run(image_spec("tag", busybox, target))
    result = run(image_spec("push", target, auth={"username": registry.user, "password": "wrong-passw0rd"}))
    assert result.status == Status.ERROR
    assert f"login to {registry.address} as '{registry.user}' failed" in result.error
    assert "wrong-passw0rd" not in result.error


def test_push_without_credentials_to_an_authenticated_registry_is_an_error(registry, busybox) -> None:  # type: ignore[no-untyped-def]
    target = f"{registry.address}/team/busybox:v3"
    run(image_spec("tag", busybox, target))
    result = run(image_spec("push", target))
    assert result.status == Status.ERROR and "docker push failed" in result.error
