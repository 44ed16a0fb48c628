"""What an Ansible run's processes see under a worker, and its events stored numbered."""

from __future__ import annotations

import pytest

from runwright.logging_core import ExecutionLogger, MemoryStore
from runwright.runners import RunSpec
from runwright.runners.environment import use_worker_policy
from tests.ansible.conftest import LOCAL, play, run_ansible

PRINT_ENV = 'shell: env\n  register: out'


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("DATABASE_URL", "postgres://worker:db-pw-123@db/prod")
    monkeypatch.setenv("LC_TIME", "C")
    monkeypatch.delenv("RUNWRIGHT_INHERIT_ENV", raising=False)
    use_worker_policy(True)
    yield
    use_worker_policy(False)


def test_under_a_worker_the_playbook_sees_only_the_allow_list(worker) -> None:  # type: ignore[no-untyped-def]
    # ansible-runner starts from the whole environment of its process: under a worker the
    # worker's DATABASE_URL reached every task on the control host.
    playbook = play("shell: env", "debug: {msg: done}")
    result, rec = run_ansible({"playbook": playbook, "inventory": LOCAL, "verbosity": 1})
    assert result.status == "success", result.error
    seen = rec.stdout.decode(errors="replace")
    assert "LC_TIME=C" in seen and "PATH=" in seen
    assert "DATABASE_URL" not in seen and "db-pw-123" not in seen


def test_events_are_stored_numbered_and_readable_by_sequence() -> None:
    logger = ExecutionLogger(MemoryStore())
    spec = RunSpec(runner="ansible", options={"playbook": play("debug: {msg: one}", "debug: {msg: two}"),
                                              "inventory": LOCAL})
    result = logger.run(spec)
    assert result.status == "success", result.error
    ref = logger.list(limit=1)[0].id
    events = logger.read_events(ref)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    kinds = [e.kind for e in events]
    assert "play" in kinds and "task" in kinds and "host" in kinds
    later = logger.read_events(ref, after=events[1].seq)
    assert [e.seq for e in later] == [e.seq for e in events[2:]]


def test_a_syntax_check_and_a_localhost_play_need_no_inventory() -> None:
    # Both ended 'error: No inventory was parsed' (found by a review).
    result, _ = run_ansible({"action": "syntax_check", "playbook": play("ping:")})
    assert result.status == "success", result.error
    bad, _ = run_ansible({"action": "syntax_check", "playbook": "- hosts: all\n  tasks:\n    - nosuchmodule_x: {}\n"})
    assert bad.status == "error" and "couldn't resolve module/action 'nosuchmodule_x'" in (bad.error or "")
    local, _ = run_ansible({"playbook": play("debug: {msg: hi}", hosts="localhost")})
    assert local.status == "success", local.error


def test_the_spec_env_never_stays_on_disk_in_ansible_runners_command_artifact(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result, _ = run_ansible({"playbook": play("debug: {msg: hi}"), "inventory": LOCAL, "keep_data_dir": True,
                             "data_dir_base": str(tmp_path)}, env={"AWS_SECRET_ACCESS_KEY": "EnvSecret-Zz9"},
                            secret_env=["AWS_SECRET_ACCESS_KEY"])
    assert result.status == "success", result.error
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"EnvSecret-Zz9" not in path.read_bytes(), path
