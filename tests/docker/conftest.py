from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.infra.docker_engine import InfraError, Registry, ensure_busybox_image, ensure_engine


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    try:
        ensure_engine()
    except InfraError as exc:
        pytest.fail(str(exc), pytrace=False)
    import docker

    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="session")
def busybox(docker_client) -> str:  # type: ignore[no-untyped-def]
    try:
        return ensure_busybox_image()
    except InfraError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def registry(docker_client) -> Iterator[Registry]:  # type: ignore[no-untyped-def]
    try:
        reg = Registry()
    except InfraError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield reg
    reg.stop()


@pytest.fixture(autouse=True)
def no_container_left_behind(docker_client):  # type: ignore[no-untyped-def]
    """After every Docker test, no container of a finished run may remain."""
    from runwright.runners.docker_engine import LABEL_MANAGED

    yield
    left = docker_client.containers.list(all=True, filters={"label": LABEL_MANAGED})
    kept = [c for c in left if c.labels.get("runwright.test.keep") == "yes"]
    for c in kept:
        c.remove(force=True)
    assert [c.name for c in left if c not in kept] == [], "a container of a finished run was left behind"
