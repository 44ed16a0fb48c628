"""Playbook runs on localhost (local connection) through the ansible runner: inputs, live
events, stats, statuses, the private directory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from runwright.logging_core import ExecutionLogger
from runwright.runners import MemoryRecorder, RunSpec, Status, get_runner_class
from runwright.runners.options import markdown_table
from tests.ansible.conftest import LOCAL, host_events, play, run_ansible
from tests.infra.sshd import closed_port

TWO_LOCAL = LOCAL + 'local2 ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"\n'


def test_playbook_text_reports_per_host_events_and_the_recap() -> None:
    playbook = play(
        "name: say hi\ndebug: msg=hi",
        "name: change something\ncommand: echo changed",
        "name: never\ndebug: msg=x\nwhen: false",
        "name: fail but ignore\ncommand: /bin/false\nignore_errors: true",
    )
    result, rec = run_ansible({"playbook": playbook, "inventory": LOCAL})
    assert result.status == Status.SUCCESS, result.error
    assert result.exit_code == 0
    kinds = [kind for kind, _ in rec.events()]
    assert kinds.index("play") < kinds.index("task") < kinds.index("host") < kinds.index("recap")
    plays = [data for kind, data in rec.events() if kind == "play"]
    assert plays[0]["play"] == "all"
    by_task = {e["task"]: e for e in host_events(rec)}
    assert {t: e["status"] for t, e in by_task.items()} == {
        "say hi": "ok", "change something": "changed", "never": "skipped", "fail but ignore": "ignored"}
    assert all(e["host"] == "localhost" and e["play"] == "all" for e in by_task.values())
    assert all(isinstance(e["duration"], float) and e["duration"] >= 0 for e in by_task.values())
    assert by_task["fail but ignore"]["msg"] == "non-zero return code"
    stats = {"ok": 3, "changed": 2, "unreachable": 0, "failed": 0, "skipped": 1, "rescued": 0, "ignored": 1}
    assert result.metadata["stats"] == {"localhost": stats}
    assert ("recap", {"hosts": {"localhost": stats}}) in rec.events()
    out = rec.stdout.decode()
    assert "TASK [say hi]" in out and "PLAY RECAP" in out and "\x1b[" not in out  # no colours by default
    assert rec.kinds()[-1] == "finished"


def test_loop_items_and_retries_are_events() -> None:
    playbook = play("name: each\ndebug: msg={{ item }}\nloop: [red, green]",
                    "name: retried\ncommand: /bin/false\nregister: r\nuntil: r.rc == 0\nretries: 1\ndelay: 0\n"
                    "ignore_errors: true")
    result, rec = run_ansible({"playbook": playbook, "inventory": LOCAL})
    assert result.status == Status.SUCCESS, result.error
    items = [data for kind, data in rec.events() if kind == "item"]
    assert [(i["task"], i["item"], i["status"]) for i in items] == [("each", "red", "ok"), ("each", "green", "ok")]
    retries = [data for kind, data in rec.events() if kind == "retry"]
    assert [(r["task"], r["attempt"]) for r in retries] == [("retried", 1)]
    assert [e["status"] for e in host_events(rec)] == ["ok", "ignored"]


class _Trigger(MemoryRecorder):
    """Creates a file when a given event or output arrives: the playbook waits for it."""

    def __init__(self, on_event: Path, on_output: Path) -> None:
        super().__init__()
        self.on_event, self.on_output = on_event, on_output

    def event(self, kind: str, data: Any) -> None:
        super().event(kind, data)
        if kind == "host" and data["task"] == "first":
            self.on_event.touch()

    def output(self, stream: Any, data: bytes) -> None:
        super().output(stream, data)
        if b"TASK [second]" in data:
            self.on_output.touch()


def test_events_and_output_arrive_while_the_playbook_runs(tmp_path: Path) -> None:
    # The second task waits for a file the reporter creates when the first task's event
    # arrives, the third for one created when the second task's header is seen in the
    # output: if either were held back until the end, the playbook would fail.
    seen_event, seen_output = tmp_path / "event", tmp_path / "output"
    playbook = play("name: first\ndebug: msg=one",
                    f"name: second\nwait_for: path={seen_event} timeout=120",
                    f"name: third\nwait_for: path={seen_output} timeout=120")
    rec = _Trigger(seen_event, seen_output)
    result, _ = run_ansible({"playbook": playbook, "inventory": LOCAL}, rec)
    assert result.status == Status.SUCCESS, result.error
    assert [e["status"] for e in host_events(rec)] == ["ok", "ok", "ok"]


def test_playbook_path_in_a_project_with_roles_tags_limit_and_extra_vars(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "roles" / "greet" / "tasks").mkdir(parents=True)
    (project / "roles" / "greet" / "tasks" / "main.yml").write_text(
        "- name: greet\n  debug: msg=\"hello {{ who }}\"\n  tags: [greet]\n")
    (project / "site.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  roles: [greet]\n  tasks:\n"
        "    - name: tagged\n      debug: msg=tagged-ran\n      tags: [t1]\n"
        "    - name: other tag\n      debug: msg=should-not-run\n      tags: [t1, t2]\n"
        "    - name: untagged\n      debug: msg=untagged-ran\n")
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(TWO_LOCAL)
    result, rec = run_ansible({"playbook": "site.yml", "project_dir": str(project), "inventory": str(inventory),
                               "limit": "localhost", "tags": ["t1", "greet"], "skip_tags": "t2",
                               "extra_vars": {"who": "world"}})
    assert result.status == Status.SUCCESS, result.error
    out = rec.stdout.decode()
    assert "hello world" in out and "tagged-ran" in out
    assert "should-not-run" not in out and "untagged-ran" not in out
    assert {e["host"] for e in host_events(rec)} == {"localhost"}
    assert [e["task"] for e in host_events(rec)] == ["greet : greet", "tagged"] or \
        [e["task"] for e in host_events(rec)] == ["greet", "tagged"]
    assert set(result.metadata["stats"]) == {"localhost"}


def test_check_mode_and_diff_change_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "motd"
    playbook = play(f"name: write\ncopy:\n  content: \"hello from runwright\\n\"\n  dest: {dest}")
    result, rec = run_ansible({"playbook": playbook, "inventory": LOCAL, "check": True, "diff": True})
    assert result.status == Status.SUCCESS, result.error
    assert not dest.exists()
    assert [e["status"] for e in host_events(rec)] == ["changed"]
    assert "+hello from runwright" in rec.stdout.decode()
    result, _ = run_ansible({"playbook": playbook, "inventory": LOCAL})
    assert result.status == Status.SUCCESS and dest.read_text() == "hello from runwright\n"


def test_forks_and_verbosity_reach_ansible() -> None:
    playbook = play("name: forks\ndebug: var=ansible_forks")
    result, rec = run_ansible({"playbook": playbook, "inventory": LOCAL, "forks": 3, "verbosity": 2})
    assert result.status == Status.SUCCESS, result.error
    out = rec.stdout.decode()
    assert '"ansible_forks": 3' in out
    assert "config file" in out  # what -vv adds: "Using ... as config file" / "No config file found"
    _, rec = run_ansible({"playbook": playbook, "inventory": LOCAL})
    assert "config file" not in rec.stdout.decode()


@pytest.mark.parametrize("form", ["ini-text", "yaml-text", "path", "host-list"])
def test_inventory_forms(form: str, tmp_path: Path) -> None:
    yaml_text = ("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
                 "      ansible_python_interpreter: '{{ ansible_playbook_python }}'\n")
    inventory: str | list[str] = {
        "ini-text": LOCAL, "yaml-text": yaml_text, "host-list": ["localhost"],
    }.get(form, "")
    if form == "path":
        (tmp_path / "inv.yml").write_text(yaml_text)
        inventory = str(tmp_path / "inv.yml")
    result, rec = run_ansible({"playbook": play("name: hi\ndebug: msg=hi"), "inventory": inventory})
    assert result.status == Status.SUCCESS, result.error
    assert [e["host"] for e in host_events(rec)] == ["localhost"]


def test_host_list_with_ports_becomes_an_inventory() -> None:
    hosts = ["localhost", "10.0.0.5:2222", "[::1]:2200", "db1", "db1:2201"]
    result, _ = run_ansible({"action": "inventory", "inventory": hosts})
    assert result.status == Status.SUCCESS, result.error
    # Named as Ansible names `-i host:port,`; the same host twice keeps both, by port.
    assert result.metadata["hosts"] == sorted(["localhost", "10.0.0.5", "::1", "db1", "db1-2201"])


def test_task_failure_names_the_failed_hosts_and_tasks() -> None:
    playbook = play("name: fine\ndebug: msg=ok", "name: boom\nfail: msg=kaput\nwhen: inventory_hostname == 'local2'",
                    "name: after\ndebug: msg=after")
    result, rec = run_ansible({"playbook": playbook, "inventory": TWO_LOCAL})
    assert result.status == Status.FAILED
    assert result.error == "task failures on 1 host(s): local2 (task 'boom': kaput)"
    assert result.metadata["failed_hosts"] == ["local2"]
    assert result.metadata["stats"]["local2"]["failed"] == 1
    assert result.metadata["stats"]["localhost"]["failed"] == 0
    assert {"host": "local2", "task": "boom", "status": "failed"}.items() <= next(
        e for e in host_events(rec) if e["status"] == "failed").items()


@pytest.mark.parametrize("pad", [488, 490, 495])
def test_a_secret_cut_by_the_message_limit_is_still_masked(pad: int) -> None:
    # Regression: failure messages were cut to 500 characters before masking, so a secret
    # straddling the cut kept its first part in clear (error, host event, stored row).
    secret = "VaultPw-S3cr3t-XYZ"
    playbook = play(f"name: boom\nfail: msg=\"{{{{ 'A' * {pad} }}}}{{{{ p }}}}\"")
    result, rec = run_ansible({"playbook": playbook, "inventory": LOCAL, "vault_password": secret,
                               "extra_vars": {"p": secret}})
    assert result.status == Status.FAILED
    everything = json.dumps([result.to_dict(), rec.events()], default=str) + rec.stdout.decode()
    for cut in range(8, len(secret) + 1):  # "VaultPw-" and longer: never in clear
        assert secret[:cut] not in everything, f"{cut} characters of the secret in clear"


def test_rescued_failure_is_not_a_failure() -> None:
    playbook = ("- hosts: all\n  gather_facts: false\n  tasks:\n    - block:\n        - fail: msg=first\n"
                "      rescue:\n        - debug: msg=rescued\n")
    result, _ = run_ansible({"playbook": playbook, "inventory": LOCAL})
    assert result.status == Status.SUCCESS, result.error
    assert result.metadata["stats"]["localhost"]["rescued"] == 1


def test_unreachable_host_is_said_plainly() -> None:
    port = closed_port()
    result, rec = run_ansible({"playbook": play("name: hi\nping:"), "inventory": [f"127.0.0.1:{port}"]})
    assert result.status == Status.FAILED
    assert result.error is not None
    assert result.error.startswith("1 host(s) unreachable: 127.0.0.1 (")
    assert f"port {port}: Connection refused" in result.error
    assert result.metadata["unreachable_hosts"] == ["127.0.0.1"]
    assert [e["status"] for e in host_events(rec)] == ["unreachable"]


@pytest.mark.parametrize(("options", "expected"), [
    ({"playbook": "- hosts: all\n  tasks: [\n", "inventory": LOCAL}, "YAML parsing failed"),
    ({"playbook": "- hosts: all\n  gather_facts: false\n  roles: [no_such_role]\n", "inventory": LOCAL},
     "the role 'no_such_role' was not found"),
    ({"playbook": play("ping:"), "inventory": "/nonexistent/inventory.ini"},
     "Unable to parse /nonexistent/inventory.ini as an inventory source"),
    ({"playbook": play("ping:"), "inventory": "[web\nhost1\n"}, "No inventory was parsed"),
    ({"playbook": "/nonexistent/site.yml", "inventory": LOCAL}, "/nonexistent/site.yml"),
])
def test_bad_input_is_an_error_with_ansibles_own_message(options: dict[str, Any], expected: str) -> None:
    result, rec = run_ansible(options)
    assert result.status == Status.ERROR
    assert result.error is not None and expected in result.error, result.error
    assert result.error.startswith("ansible ")
    assert not host_events(rec)


@pytest.mark.parametrize(("options", "field"), [
    ({}, "options.playbook"),
    ({"action": "ping"}, "options.inventory"),
    ({"action": "module", "inventory": LOCAL}, "options.module"),
    ({"playbook": "x.yml", "inventory": ["ok", "web:99999"]}, "options.inventory[1]"),
    ({"playbook": "x.yml", "inventory": []}, "options.inventory"),
    ({"playbook": "x.yml", "verbosity": 9}, "options.verbosity"),
    ({"playbook": "x.yml", "forks": 0}, "options.forks"),
    ({"playbook": "x.yml", "tags": ["ok", ""]}, "options.tags"),
    ({"playbook": "x.yml", "become": "yes"}, "options.become"),
    ({"playbook": "x.yml", "action": "deploy"}, "options.action"),
    ({"playbook": "x.yml", "play_book": "x"}, "options.play_book"),
])
def test_invalid_options_name_the_field(options: dict[str, Any], field: str) -> None:
    result, rec = run_ansible(options)
    assert result.status == Status.ERROR
    assert result.error is not None and result.error.startswith(f"invalid spec: {field}: "), result.error
    assert "started" not in rec.kinds()


def test_command_must_be_empty() -> None:
    rec = MemoryRecorder()
    spec = RunSpec(["ansible-playbook", "x.yml"], runner="ansible", options={"playbook": "x.yml"})
    result = get_runner_class("ansible")().run(spec, rec)
    assert result.status == Status.ERROR
    assert result.error == "invalid spec: command: must be empty: the ansible runner takes what to run from its options"


def test_private_directory_is_removed_and_no_artifacts_are_left() -> None:
    result, rec = run_ansible({"playbook": play("debug: msg=hi"), "inventory": LOCAL})
    assert result.status == Status.SUCCESS
    private = Path(rec.handles[0]["data_dir"])
    assert private.name.startswith("runwright-ansible-")
    assert not private.exists()


def test_kept_private_directory_has_no_event_files_nor_credentials(tmp_path: Path) -> None:
    result, _ = run_ansible({"playbook": play("debug: msg=hi"), "inventory": LOCAL, "keep_data_dir": True,
                             "data_dir_base": str(tmp_path), "ssh_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n"})
    assert result.status == Status.SUCCESS, result.error
    private = Path(result.metadata["data_dir"])
    assert private.parent == tmp_path and private.is_dir()
    assert oct(private.stat().st_mode & 0o777) == "0o700"
    assert not (private / "credentials").exists()
    events = list(private.glob("artifacts/*/job_events/*"))
    assert events == []
    assert not list(private.glob("artifacts/*/stdout"))


def test_sweep_removes_a_finished_executions_leftover_but_not_a_kept_directory() -> None:
    import shutil
    import uuid

    from runwright.runners import get_runner
    from runwright.runners.ansible.inputs import OWNER_FILE

    tag = f"ansible-tests:{uuid.uuid4().hex[:8]}"
    spec = RunSpec(runner="ansible", options={"playbook": play("debug: msg=hi"), "inventory": LOCAL,
                                              "keep_data_dir": True})
    kept = get_runner("ansible").run(spec, MemoryRecorder(), execution_id=tag)
    assert kept.status == Status.SUCCESS, kept.error
    kept_dir = Path(kept.metadata["data_dir"])
    # What a worker that died mid-run leaves: a directory that still names its execution.
    left = Path(kept_dir.parent, f"runwright-ansible-{uuid.uuid4().hex[:12]}-x")
    left.mkdir()
    (left / OWNER_FILE).write_text(tag)
    try:
        removed = get_runner_class("ansible").sweep(lambda t: t != tag)
        assert f"data directory {left} (execution {tag})" in removed
        assert not left.exists()
        assert kept_dir.is_dir()  # kept on purpose: not the sweep's
    finally:
        shutil.rmtree(kept_dir, ignore_errors=True)
        shutil.rmtree(left, ignore_errors=True)


def test_runs_through_the_execution_logger_with_stats_and_events() -> None:
    logger = ExecutionLogger(structured_log=False, metrics=False)
    spec = RunSpec(runner="ansible", options={"playbook": play("name: hi\ndebug: msg=hi"), "inventory": LOCAL,
                                              "become_password": "N0t-Used-Secret"})
    result = logger.run(spec)
    assert result.status == Status.SUCCESS, result.error
    executions = logger.list(runner="ansible", limit=1)
    view = logger.get(executions[0].id)
    assert view.status == Status.SUCCESS
    assert view.result["metadata"]["stats"]["localhost"]["ok"] == 1
    assert "N0t-Used-Secret" not in json.dumps(view.result, default=str)
    log = b"".join(c.data for c in logger.read_log(view.id))
    assert b"PLAY RECAP" in log


def test_option_table_is_generated_from_the_schema() -> None:
    table = markdown_table(get_runner_class("ansible").options)
    assert "| `playbook` | string |" in table
    assert "| `ssh_password` | string | - |" in table and "Secret: masked everywhere." in table
    names = [o.name for o in get_runner_class("ansible").options]
    assert len(names) == len(set(names)) and "action" in names
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert table in readme, "regenerate with `runwright runners ansible --markdown`"


def test_run_environment_leaves_out_the_workers_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_ONLY_SETTING", "from-the-worker")
    playbook = play("name: env\ndebug: msg=\"[{{ lookup('env', 'WORKER_ONLY_SETTING') }}] [{{ lookup('env', 'GIVEN') }}]\"")
    result, rec = run_ansible({"playbook": playbook, "inventory": LOCAL}, inherit_env=False, env={"GIVEN": "by-spec"})
    assert result.status == Status.SUCCESS, result.error
    assert "[] [by-spec]" in rec.stdout.decode()
    result, rec = run_ansible({"playbook": playbook, "inventory": LOCAL}, env={"GIVEN": "by-spec"})
    assert "[from-the-worker] [by-spec]" in rec.stdout.decode()
    assert os.environ["WORKER_ONLY_SETTING"] == "from-the-worker"
