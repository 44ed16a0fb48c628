"""The runner contract: spec validation, status model, RunResult, registry and plugins."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runners import (
    ACTIVE,
    TERMINAL,
    MemoryRecorder,
    RunResult,
    RunSpec,
    SpecError,
    Status,
    UnknownRunner,
    available_runners,
    can_transition,
    get_runner,
    run,
)
from runners.exitcodes import describe_exit
from runners.status import sources_of

FIXTURES = Path(__file__).parent.parent / "fixtures"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"command": []}, "command"),
        ({"command": ""}, "command"),
        ({"command": "echo hi"}, "command"),  # a string without shell=True
        ({"command": ["echo", 3]}, "command[1]"),
        ({"command": ["echo"], "shell": True}, "shell"),
        ({"command": ["true"], "timeout": -1}, "timeout"),
        ({"command": ["true"], "timeout": 0}, "timeout"),
        ({"command": ["true"], "timeout": float("nan")}, "timeout"),
        ({"command": ["true"], "grace_period": -0.1}, "grace_period"),
        ({"command": ["true"], "env": {"A": 1}}, "env['A']"),
        ({"command": ["true"], "env": {"A=B": "x"}}, "env['A=B']"),
        ({"command": ["true"], "labels": {"team": None}}, "labels['team']"),
        ({"command": ["true"], "stdin": 5}, "stdin"),
        ({"command": ["true"], "secrets": "abc"}, "secrets"),
        ({"command": ["true"], "tail_bytes": -1}, "tail_bytes"),
    ],
)
def test_invalid_spec_names_the_field(kwargs, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SpecError) as info:
        RunSpec(**kwargs)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}:")


def test_from_dict_refuses_unknown_fields_and_hides_env_values() -> None:
    with pytest.raises(SpecError, match="^comand: unknown field"):
        RunSpec.from_dict({"comand": ["true"]})
    with pytest.raises(SpecError, match="^command: is required"):
        RunSpec.from_dict({})
    with pytest.raises(SpecError) as info:
        RunSpec(["true"], env={"DB_PASSWORD": 12345678})
    assert "12345678" not in str(info.value)


def test_spec_dict_masks_secrets() -> None:
    spec = RunSpec(["deploy", "--password", "s3cr3t-value"], secrets=["s3cr3t-value"], env={"GH_TOKEN": "ghp_abcdef"})
    text = json.dumps(spec.to_dict())
    assert "s3cr3t-value" not in text and "ghp_abcdef" not in text
    assert spec.display_command() == "deploy --password ***"
    assert RunSpec.from_dict({"command": ["true"], "timeout": 3}).timeout == 3


def test_status_model() -> None:
    assert Status.PENDING in ACTIVE and Status.RUNNING in ACTIVE
    assert {Status.SUCCESS, Status.FAILED, Status.TIMEOUT, Status.CANCELLED, Status.ERROR, Status.LOST} == TERMINAL
    assert can_transition(Status.PENDING, Status.RUNNING)
    assert can_transition(Status.PENDING, Status.CANCELLED) and can_transition(Status.PENDING, Status.ERROR)
    assert not can_transition(Status.PENDING, Status.SUCCESS)
    assert not can_transition(Status.CANCELLED, Status.SUCCESS)
    for terminal in TERMINAL:
        assert not any(can_transition(terminal, s) for s in Status)
    assert sources_of(Status.SUCCESS) == {Status.RUNNING}
    assert sources_of(Status.CANCELLED) == {Status.PENDING, Status.RUNNING}


def test_run_result_json_round_trip() -> None:
    result = RunResult(
        status=Status.FAILED, exit_code=-15, signal="SIGTERM",
        started_at=datetime(2026, 1, 1, tzinfo=UTC), finished_at=datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC),
        error="boom", stdout_tail="out", stderr_tail="err", stdout_bytes=3, stderr_bytes=3,
        log_ref="runwright:execution/1", metadata={"pid": 12},
    )
    data = json.loads(result.to_json())
    assert data["duration"] == 2.0 and data["status"] == "failed"
    assert RunResult.from_json(result.to_json()) == result


def test_exit_code_table() -> None:
    assert describe_exit(127) == "exit code 127 (command not found)"
    assert "SIGKILL" in describe_exit(137) and "out-of-memory" in describe_exit(137)
    assert "SIGTERM" in describe_exit(143) and "SIGKILL" in describe_exit(-9)
    assert describe_exit(3) == "exit code 3"


def test_builtin_runner_is_registered_through_the_entry_point_group() -> None:
    assert available_runners()["local"] == "runners.local:LocalRunner"


def test_unknown_runner_lists_installed_ones() -> None:
    with pytest.raises(UnknownRunner, match=r"unknown runner 'nope'; installed runners: .*local"):
        get_runner("nope")


def test_third_party_runner_installed_as_a_package_runs_by_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(FIXTURES / "rw_echo_runner")],
        check=True, capture_output=True,
    )
    sys.path.insert(0, str(target))
    try:
        assert "echo" in available_runners()
        rec = MemoryRecorder()
        result = run(RunSpec(["hello", "plugin"], runner="echo", options={"upper": True}), rec)
        assert result.ok and rec.stdout == b"HELLO PLUGIN\n" and result.metadata == {"echoed": True}
        bad = run(RunSpec(["x"], runner="echo", options={"upper": "yes"}))
        assert bad.status == Status.ERROR and "options.upper: must be bool" in bad.error
    finally:
        sys.path.remove(str(target))
        for name in [m for m in sys.modules if m.startswith("rw_echo_runner")]:
            del sys.modules[name]
