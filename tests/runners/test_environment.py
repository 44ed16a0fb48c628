"""What environment a command starts with: the caller's whole environment for a command
wrapper, an allow-list under a worker (runners/environment.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from runwright.runners import MemoryRecorder, RunSpec, run
from runwright.runners.environment import (
    DEFAULT_ALLOWED,
    EnvironmentSettingError,
    parse_policy,
    use_worker_policy,
)

PRINT_ENV = ["sh", "-c", "env | cut -d= -f1 | sort"]


@pytest.fixture
def worker_secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("DATABASE_URL", "postgres://worker:db-pw-123@db/prod")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-worker-secret")
    monkeypatch.setenv("LC_TIME", "C")
    monkeypatch.delenv("RUNWRIGHT_INHERIT_ENV", raising=False)
    yield
    use_worker_policy(False)


def names(spec: RunSpec) -> set[str]:
    rec = MemoryRecorder()
    run(spec, rec)
    return set(rec.stdout.decode().split())


def test_outside_a_worker_the_whole_environment_is_passed_on(worker_secrets: None) -> None:
    seen = names(RunSpec(PRINT_ENV))
    assert {"DATABASE_URL", "AWS_SECRET_ACCESS_KEY", "PATH"} <= seen


def test_under_a_worker_only_the_allow_list_and_the_specs_env(worker_secrets: None) -> None:
    use_worker_policy()
    seen = names(RunSpec(PRINT_ENV, env={"MY_SETTING": "1"}))
    assert "DATABASE_URL" not in seen and "AWS_SECRET_ACCESS_KEY" not in seen
    assert {"PATH", "HOME", "LC_TIME", "MY_SETTING", "RUNWRIGHT_RUN_ID"} <= seen
    rec = MemoryRecorder()
    run(RunSpec(["sh", "-c", "env"]), rec)
    assert b"db-pw-123" not in rec.stdout and b"aws-worker-secret" not in rec.stdout


def test_inheriting_everything_under_a_worker_is_an_explicit_setting(worker_secrets: None, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    use_worker_policy()
    monkeypatch.setenv("RUNWRIGHT_INHERIT_ENV", "all")
    assert "DATABASE_URL" in names(RunSpec(PRINT_ENV))
    monkeypatch.setenv("RUNWRIGHT_INHERIT_ENV", "allowlist,AWS_*")
    seen = names(RunSpec(PRINT_ENV))
    assert "AWS_SECRET_ACCESS_KEY" in seen and "DATABASE_URL" not in seen


def test_inside_any_celery_task_counts_as_a_worker(worker_secrets: None) -> None:
    from celery import Celery

    app = Celery("user-app", broker="memory://")
    app.conf.task_always_eager = True

    @app.task
    def platform_task() -> list[str]:
        return sorted(names(RunSpec(PRINT_ENV)))

    seen = platform_task.apply().get()
    assert "DATABASE_URL" not in seen and "PATH" in seen


def test_a_bad_setting_is_one_line() -> None:
    with pytest.raises(EnvironmentSettingError, match="RUNWRIGHT_INHERIT_ENV='everything'"):
        parse_policy("everything")
    with pytest.raises(EnvironmentSettingError, match="not a variable name"):
        parse_policy("allowlist,BAD=NAME")
    assert parse_policy(None).allowed == DEFAULT_ALLOWED and parse_policy("all").inherit_all
    assert "PATH" in os.environ


def test_inherited_secret_named_variables_are_masked_in_a_recorded_run(worker_secrets: None, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from runwright.logging_core import ExecutionLogger, MemoryStore

    monkeypatch.setenv("CI_DEPLOY_TOKEN", "inherited-token-771")
    logger = ExecutionLogger(MemoryStore())
    for worker in (False, True):  # the CLI's caller, and a worker that inherits everything
        use_worker_policy(worker)
        monkeypatch.setenv("RUNWRIGHT_INHERIT_ENV", "all")
        result = logger.run(RunSpec(["sh", "-c", "env"]))
        ref = logger.list(limit=1)[0].id
        stored = b"".join(c.data for c in logger.read_log(ref))
        assert b"CI_DEPLOY_TOKEN=***" in stored and b"inherited-token-771" not in stored
        assert b"DATABASE_URL=postgres://worker:***@db/prod" in stored
        assert "inherited-token-771" not in result.stdout_tail

