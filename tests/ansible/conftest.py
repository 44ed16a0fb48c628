"""Fixtures of the Ansible tests: real ansible-core and ansible-runner, localhost with the
local connection, and a real sshd on a loopback port (tests/infra/sshd.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runwright.runners import MemoryRecorder, RunResult, RunSpec, get_runner
from runwright.runners.cancel import CancelToken
from tests.infra.sshd import SSHServer

#: Localhost through the local connection, with the Python that runs Ansible.
LOCAL = 'localhost ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n'


def play(*tasks: str, hosts: str = "all", facts: bool = False) -> str:
    """A one-play playbook; each task is YAML text indented under `tasks:`."""
    body = "".join("    - " + t.strip().replace("\n", "\n      ") + "\n" for t in tasks)
    return f"- hosts: {hosts}\n  gather_facts: {str(facts).lower()}\n  tasks:\n{body}"


def run_ansible(options: dict[str, Any], reporter: Any = None, cancel: CancelToken | None = None,
                run_id: str | None = None, **spec: Any) -> tuple[RunResult, Any]:
    """Run the ansible runner with ``options``; returns the result and the reporter."""
    rec = reporter if reporter is not None else MemoryRecorder()
    result = get_runner("ansible").run(RunSpec(runner="ansible", options=options, **spec), rec, cancel, run_id=run_id)
    return result, rec


def host_events(rec: MemoryRecorder) -> list[dict[str, Any]]:
    return [data for kind, data in rec.events() if kind == "host"]


@pytest.fixture(scope="session")
def sshd() -> Iterator[SSHServer]:
    server = SSHServer()
    yield server
    server.stop()
