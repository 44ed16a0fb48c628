"""The runner contract suite (runwright.runners.testing) on the ansible runner."""

from __future__ import annotations

from typing import Any

from runwright.runners import RunSpec
from runwright.runners.ansible import AnsibleRunner
from runwright.runners.testing import RunnerCase, RunnerContract
from tests.ansible.conftest import LOCAL, play

WORK = {
    "quick": play("name: quick\ndebug: msg=hello-contract"),
    "long": play("name: long\ncommand: sleep 300"),
}


def ansible_spec(kind: str, **overrides: Any) -> RunSpec:
    return RunSpec(runner="ansible", options={"playbook": WORK[kind], "inventory": LOCAL}, **overrides)


class TestAnsibleRunnerContract(RunnerContract):
    case = RunnerCase(AnsibleRunner, ansible_spec, quick_output=b"hello-contract", timeout=4.0)
