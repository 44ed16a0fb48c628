"""Over real SSH (Debian's openssh-server on a loopback port, tests/infra/sshd.py): a key, a
password (sshpass), become (sudo) with a password, a vault password. Every credential is a
secret: never in output, events, metadata, errors, the stored spec, nor any process's
command line or environment."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from runwright.runners import MemoryRecorder, RunSpec, Status
from tests.ansible.conftest import LOCAL, host_events, play, run_ansible
from tests.infra.sshd import SSHServer

WHOAMI = play("name: who\ncommand: whoami\nregister: who", "name: show\ndebug: msg=\"user={{ who.stdout }}\"")
BECOME = play("name: who\ncommand: whoami\nbecome: true\nregister: who", "name: show\ndebug: msg=\"user={{ who.stdout }}\"")


def _leaks(text: str, secrets: list[str]) -> list[str]:
    return [s for s in secrets if s in text]


class ProcessWatch(MemoryRecorder):
    """At the first host result (the run's processes are alive), reads every process's
    command line and environment, as `ps auxe` would show them."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets
        self.seen: list[str] | None = None
        self.processes = 0

    def event(self, kind: str, data: Any) -> None:
        super().event(kind, data)
        if kind == "host" and self.seen is None:
            found: list[str] = []
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                for name in ("cmdline", "environ"):
                    try:
                        with open(f"/proc/{entry}/{name}", "rb") as fh:
                            text = fh.read().decode(errors="replace")
                    except OSError:
                        continue
                    self.processes += 1
                    found += [f"{entry}/{name}: {s[:3]}..." for s in _leaks(text, self.secrets)]
            self.seen = found


def _everything(result: Any, rec: MemoryRecorder, spec: RunSpec) -> str:
    return "\n".join([rec.stdout.decode(), rec.stderr.decode(), rec.system.decode(),
                      json.dumps(rec.events(), default=str), json.dumps(result.to_dict(), default=str),
                      json.dumps(spec.to_dict(), default=str), json.dumps(rec.handles, default=str)])


def test_ssh_key_login(sshd: SSHServer) -> None:
    # A local play reads where the key file is and its mode while the run is on.
    playbook = WHOAMI + (
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        "    - stat: path=\"{{ lookup('env', 'ANSIBLE_PRIVATE_KEY_FILE') }}\"\n      register: key\n"
        "    - debug: msg=\"key={{ key.stat.path }} mode={{ key.stat.mode }} exists={{ key.stat.exists }}\"\n")
    inventory = sshd.inventory() + LOCAL
    options = {"playbook": playbook, "inventory": inventory, "ssh_key": sshd.private_key, "limit": "sshd,localhost"}
    result, rec = run_ansible(options)
    assert result.status == Status.SUCCESS, result.error
    out = rec.stdout.decode()
    assert f"user={sshd.user}" in out
    line = next(x for x in out.splitlines() if "key=" in x and "mode=" in x)
    key_path = line.split("key=")[1].split()[0]
    assert "mode=0600 exists=True" in line
    assert key_path.startswith(rec.handles[0]["data_dir"] + "/")
    assert not Path(key_path).exists()  # removed with the run's directory
    key_body = sshd.private_key.strip().splitlines()[1]
    spec = RunSpec(runner="ansible", options=options)
    assert _leaks(_everything(result, rec, spec), [key_body]) == []


@pytest.mark.parametrize("mechanism", ["ssh_askpass", "sshpass"])
def test_ssh_password_and_become_password_are_answered_and_never_shown(sshd: SSHServer, mechanism: str) -> None:
    # ansible-core 2.19 hands the SSH password to ssh through SSH_ASKPASS by default; sshpass
    # (on a file descriptor) is the other mechanism it offers: neither shows it anywhere.
    secrets = [sshd.password]
    rec = ProcessWatch(secrets)
    options = {"playbook": BECOME, "inventory": sshd.inventory(), "ssh_password": sshd.password,
               "become_password": sshd.password, "verbosity": 3}  # -vvv shows each ssh command
    result, _ = run_ansible(options, rec, env={"ANSIBLE_SSH_PASSWORD_MECHANISM": mechanism})
    assert result.status == Status.SUCCESS, result.error
    assert "user=root" in rec.stdout.decode()
    # sshpass reads the password from a descriptor: `sshpass -d<fd> ssh ...` (the word itself
    # is masked in the log, as the value of a variable whose name says PASSWORD).
    assert bool(re.search(r"SSH: EXEC \S+ -d\d+ ssh ", rec.stdout.decode())) == (mechanism == "sshpass")
    assert rec.seen == [] and rec.processes > 10
    assert _leaks(_everything(result, rec, RunSpec(runner="ansible", options=options)), secrets) == []


def test_become_with_a_key_login_and_a_wrong_become_password_fails_plainly(sshd: SSHServer) -> None:
    wrong = "Wrong-" + sshd.password
    result, rec = run_ansible({"playbook": BECOME, "inventory": sshd.inventory(), "ssh_key": sshd.private_key,
                               "become_password": wrong})
    assert result.status == Status.FAILED
    assert result.error is not None and result.error.startswith("task failures on 1 host(s): sshd (task 'who': ")
    assert "password" in result.error.lower()
    assert wrong not in _everything(result, rec, RunSpec(runner="ansible", options={"become_password": wrong}))
    good, rec = run_ansible({"playbook": BECOME, "inventory": sshd.inventory(), "ssh_key": sshd.private_key,
                             "become_password": sshd.password})
    assert good.status == Status.SUCCESS, good.error
    assert "user=root" in rec.stdout.decode()


def test_wrong_ssh_password_is_unreachable_said_plainly(sshd: SSHServer) -> None:
    wrong = "Wrong-" + sshd.password
    result, rec = run_ansible({"action": "ping", "inventory": sshd.inventory(), "ssh_password": wrong})
    assert result.status == Status.FAILED
    assert result.metadata["ping"]["sshd"]["reachable"] is False
    assert result.error is not None and result.error.startswith("1 host(s) unreachable: sshd (")
    assert wrong not in _everything(result, rec, RunSpec(runner="ansible", options={"ssh_password": wrong}))


def test_ping_and_facts_over_ssh(sshd: SSHServer) -> None:
    result, _ = run_ansible({"action": "ping", "inventory": sshd.inventory(user=False), "ssh_user": sshd.user,
                             "ssh_key": sshd.private_key})
    assert result.status == Status.SUCCESS, result.error
    assert result.metadata["ping"] == {"sshd": {"reachable": True, "ping": "pong"}}
    result, _ = run_ansible({"action": "facts", "inventory": sshd.inventory(user=False), "ssh_user": sshd.user,
                             "ssh_key": sshd.private_key, "fact_filter": "ansible_user_id"})
    assert result.status == Status.SUCCESS, result.error
    assert result.metadata["facts"] == {"sshd": {"ansible_user_id": sshd.user}}


def _vaulted(plain: str, password: str) -> str:
    from ansible.constants import DEFAULT_VAULT_ID_MATCH
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([(DEFAULT_VAULT_ID_MATCH, VaultSecret(password.encode()))])
    text = vault.encrypt(plain).decode()
    return "!vault |\n" + "".join(f"        {line}\n" for line in text.splitlines())


def test_vault_password_decrypts_vaulted_variables() -> None:
    password = "Vault-Pa55-for-tests"
    playbook = ("- hosts: all\n  gather_facts: false\n  vars:\n    db_pw: " + _vaulted("opened-by-the-vault", password)
                + "  tasks:\n    - assert:\n        that: db_pw == 'opened-by-the-vault'\n")
    result, rec = run_ansible({"playbook": playbook, "inventory": LOCAL, "vault_password": password})
    assert result.status == Status.SUCCESS, result.error
    assert [e["status"] for e in host_events(rec)] == ["ok"]
    assert password not in _everything(result, rec, RunSpec(runner="ansible", options={"vault_password": password}))
    wrong, rec = run_ansible({"playbook": playbook, "inventory": LOCAL, "vault_password": "not-the-one"})
    assert wrong.status != Status.SUCCESS
    assert wrong.error is not None and "Decryption failed" in wrong.error


def test_runtime_output_of_a_secret_is_masked(sshd: SSHServer) -> None:
    # A task that prints the password it was given: the output and the events are masked.
    options = {"playbook": play("name: oops\ndebug: msg=\"pw is {{ ansible_password }}\""),
               "inventory": sshd.inventory(), "ssh_password": sshd.password}
    result, rec = run_ansible(options)
    assert result.status == Status.SUCCESS, result.error
    assert "pw is ***" in rec.stdout.decode()
    assert sshd.password not in _everything(result, rec, RunSpec(runner="ansible", options=options))
