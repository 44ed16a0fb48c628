"""The runner contract: spec validation, status model, RunResult, registry and plugins."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import pytest

from runwright.runners import (
    ACTIVE,
    TERMINAL,
    Exit,
    MemoryRecorder,
    RunContext,
    Runner,
    RunResult,
    RunSpec,
    SpecError,
    Status,
    Stop,
    UnknownRunner,
    available_runners,
    can_transition,
    get_runner,
    run,
)
from runwright.runners.exitcodes import describe_exit
from runwright.runners.options import Option
from runwright.runners.status import sources_of

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
    # What to run is the runner's to require (Runner.command): the spec alone may leave it out.
    assert RunSpec.from_dict({}).command is None
    result = run(RunSpec.from_dict({}))
    assert result.status == Status.ERROR and result.error == "invalid spec: command: is required for the local runner"
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
    assert available_runners()["local"] == "runwright.runners.local:LocalRunner"


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


class _WaitsForTheStopItself(Runner):
    """Remote work whose ``wait`` notices the deadline itself (``ctx.wait_stop``) and returns:
    the work must still be stopped through ``terminate``."""

    name = "waits-itself"
    command = "none"
    stops: ClassVar[list[str]] = []

    def start(self, ctx: RunContext) -> None:
        ctx.set_handle({"build": ctx.run_id})

    def stream(self, ctx: RunContext) -> None:
        return None

    def wait(self, ctx: RunContext) -> Exit:
        while ctx.wait_stop(0.01) is None:
            pass
        return Exit()

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        self.stops.append(ctx.run_id)
        return Stop(True, "build stopped")


def test_a_stop_the_runner_saw_itself_still_terminates_the_work() -> None:
    # Before the fix the watcher could take the step's "done" before its own deadline check
    # and leave without calling terminate: the remote build kept running (about 1 run in 4).
    runner = _WaitsForTheStopItself()
    for _ in range(20):
        result = runner.run(RunSpec(None, timeout=0.02))
        assert result.status == Status.TIMEOUT
        assert result.metadata.get("stop_confirmed") is True, result.metadata
    assert len(_WaitsForTheStopItself.stops) == 20


class _Misbehaving(Runner):
    """A plugin that breaks the contract in the way its options say."""

    name = "misbehaving"
    command = "none"
    options = (Option("how", str, required=True), Option("token", str, secret=True, default=""))

    def start(self, ctx: RunContext) -> None:
        ctx.add_secret("RUNTIME-SECRET-42")
        ctx.set_metadata(rt="RUNTIME-SECRET-42")
        ctx.set_handle({"id": 1})

    def stream(self, ctx: RunContext) -> None:
        how = ctx.options["how"]
        if how == "stream-name":
            ctx.emit("out", b"x\n")  # type: ignore[arg-type]
        elif how == "text":
            ctx.emit("stdout", "text")  # type: ignore[arg-type]
        elif how == "raise":
            raise TypeError(f"bad token {ctx.options['token']}")

    def wait(self, ctx: RunContext) -> Exit:
        if ctx.options["how"] == "exit-code":
            return Exit(exit_code="0")  # type: ignore[arg-type]
        if ctx.options["how"] == "status":
            return Exit(status="bogus")  # type: ignore[arg-type]
        return Exit(exit_code=0)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        return Stop(True, "nothing to stop")


@pytest.mark.parametrize(("how", "words"), [
    ("exit-code", "Exit(exit_code=str), expected an int"),
    ("status", "Exit(status='bogus'), expected a Status"),
    ("stream-name", "ctx.emit('out', bytes): the stream must be one of stdout, stderr, system"),
    ("text", "ctx.emit('stdout', str)"),
])
def test_a_plugin_breaking_the_contract_at_run_time_is_an_error_naming_it(how: str, words: str) -> None:
    # They raised TypeError/KeyError out of Runner.run, or went silently (found by a review).
    result = _Misbehaving().run(RunSpec(None, runner="misbehaving", options={"how": how}), MemoryRecorder())
    assert result.status == Status.ERROR and "breaks the contract" in (result.error or "") and words in result.error


def test_a_secret_learned_at_run_time_is_masked_in_what_is_reported_at_start(caplog: pytest.LogCaptureFixture) -> None:
    rec = MemoryRecorder()
    result = _Misbehaving().run(RunSpec(None, runner="misbehaving", options={"how": "raise", "token": "OPT-SECRET-77"}), rec)
    started = [data for kind, data in rec.calls if kind == "started"]
    assert started and "RUNTIME-SECRET-42" not in json.dumps(started)
    assert "OPT-SECRET-77" not in (result.error or "") and "OPT-SECRET-77" not in caplog.text
