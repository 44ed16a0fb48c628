"""The contract suite (runwright.runners.testing) on LocalRunner and on a fake in-process runner."""

from __future__ import annotations

from typing import Any

from runwright.runners import RunSpec
from runwright.runners.local import LocalRunner
from runwright.runners.testing import RunnerCase, RunnerContract
from tests.runners.fake_runner import FakeRunner

LOCAL_WORK = {
    "quick": ["sh", "-c", "echo hello-contract"],
    "long": ["sh", "-c", "echo started; exec sleep 300"],
    "resumable": ["sh", "-c", "echo first; sleep 3; echo last; exit 3"],
}


def local_spec(kind: str, **overrides: Any) -> RunSpec:
    return RunSpec(LOCAL_WORK[kind], **overrides)


def fake_spec(kind: str, **overrides: Any) -> RunSpec:
    options: dict[str, Any] = {
        "quick": {"lines": ["hello-contract"], "hold": 0},
        "long": {"lines": ["started"]},
        "resumable": {"lines": ["first"], "hold": 3, "exit_code": 3},
    }[kind]
    return RunSpec(runner="fake", options={**options, "token": "fake-t0ken-value"}, **overrides)


class TestLocalRunnerContract(RunnerContract):
    case = RunnerCase(LocalRunner, local_spec, quick_output=b"hello-contract\n")


class TestFakeRunnerContract(RunnerContract):
    case = RunnerCase(FakeRunner, fake_spec, quick_output=b"hello-contract\n", death="thread")
