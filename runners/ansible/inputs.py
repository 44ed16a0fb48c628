"""The private data directory of one Ansible run and the arguments for ansible-runner.

Everything a run needs is written into a directory of its own (mode 0700): the playbook
given as text, the inventory given as text or as a host list, the extra vars
(``env/extravars``, passed as ``-e @file``), the SSH private key (``credentials/ssh_key``,
mode 0600, used through ``ANSIBLE_PRIVATE_KEY_FILE``). Passwords never touch the disk nor a
command line: they are answered to Ansible's own prompts (``--ask-pass``,
``--ask-become-pass``, ``--ask-vault-password``) through ansible-runner's ``passwords``,
kept in memory (``suppress_env_files``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runwright.runners.ansible.processes import RUNNER_ENV, RUNNER_NAME
from runwright.runners.base import RunnerError
from runwright.runners.local import EXECUTION_ID_ENV, RUN_ID_ENV
from runwright.runners.spec import SpecError

#: Prefix of every run's private data directory (the sweep finds them by it).
DIR_PREFIX = "runwright-ansible-"
#: The file in a private directory that names the execution owning it.
OWNER_FILE = ".runwright-owner"
#: Ansible's own prompts, answered with the run's passwords (the patterns AWX uses).
PROMPTS = {
    "ssh_password": r"SSH password:\s*?$",
    "become_password": r"BECOME password.*:\s*?$",
    "vault_password": r"Vault password.*:\s*?$",
}
ASK_FLAGS = {"ssh_password": "--ask-pass", "become_password": "--ask-become-pass",
             "vault_password": "--ask-vault-password"}
#: Environment a run keeps from the worker's when ``RunSpec.inherit_env`` is False.
BASE_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ", "USER", "LOGNAME", "TMPDIR", "SSH_AUTH_SOCK")
#: How often ansible-runner asks whether to cancel (its ``pexpect_timeout``): a stop's delay.
POLL_SECONDS = 0.2


@dataclass
class Prepared:
    """What ``build`` made: the private directory and ansible-runner's arguments."""

    private_dir: Path
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: For the ``inventory`` action: the inventory sources for ``ansible-inventory --list``.
    inventories: list[str] = field(default_factory=list)
    credentials: list[Path] = field(default_factory=list)
    #: Where ansible-playbook and its siblings are.
    bin_dir: str = ""


def is_text(value: str) -> bool:
    """A playbook or an inventory given inline rather than as a path: it spans lines."""
    return "\n" in value


def ansible_bin_dir(env_path: str | None) -> str:
    """The directory holding ansible-playbook: on the run's PATH, else beside this Python
    (a virtualenv that is not activated). Raises RunnerError when ansible-core is missing."""
    import importlib.util

    found = shutil.which("ansible-playbook", path=env_path)
    if found:
        return os.path.dirname(found)
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.exists() and importlib.util.find_spec("ansible") is not None:
        return str(beside.parent)
    raise RunnerError("ansible-core is not installed (ansible-playbook not found on PATH nor beside "
                      f"{sys.executable}): pip install 'runwright[ansible]'")


def host_list_inventory(hosts: list[str]) -> str:
    """A YAML inventory for ``host[:port]`` entries, named by host as Ansible names
    ``-i 'host:port,'`` (the same host on two ports: ``host-port``); ``localhost`` alone
    uses the local connection, as Ansible's implicit localhost does."""
    parsed = [_split_host(item, i) for i, item in enumerate(hosts)]
    names = [h for h, _ in parsed]
    entries: dict[str, dict[str, Any]] = {}
    for host, port in parsed:
        values: dict[str, Any] = {"ansible_host": host}
        if port is not None:
            values["ansible_port"] = port
        if host == "localhost" and port is None:
            values = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
        name = host if names.count(host) == 1 or port is None else f"{host}-{port}"
        entries[name] = values
    return json.dumps({"all": {"hosts": entries}}, indent=1)


def _split_host(item: str, index: int) -> tuple[str, int | None]:
    field_name = f"options.inventory[{index}]"
    if not isinstance(item, str) or not item.strip():
        raise SpecError(field_name, "must be a host name, host:port or [ipv6]:port")
    item = item.strip()
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    elif item.count(":") == 1:
        host, port = item.split(":")
    else:
        host, port = item, ""
    if not port:
        return host, None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SpecError(field_name, f"port must be a number from 1 to 65535, got {port!r}")
    return host, int(port)


def _csv(value: str | list[str] | None) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else ",".join(value)


def _write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _path(value: str, base: str) -> str:
    return str(Path(base, os.path.expanduser(value)).resolve())


def build(options: Mapping[str, Any], *, run_id: str, execution_id: str, env: Mapping[str, str],
          inherit_env: bool, cwd: str | None) -> Prepared:
    """Write the private directory of a run and return ansible-runner's arguments.
    Raises RunnerError when ansible-core is missing or an input cannot be written."""
    base = cwd or os.getcwd()
    parent = options.get("data_dir_base") or None
    if parent:
        os.makedirs(parent, mode=0o700, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{run_id[:12]}-", dir=parent))
    prepared = Prepared(private)
    try:
        _fill(prepared, options, run_id=run_id, execution_id=execution_id, env=env, inherit_env=inherit_env, base=base)
    except BaseException:
        shutil.rmtree(private, ignore_errors=True)
        raise
    return prepared


def _fill(prepared: Prepared, options: Mapping[str, Any], *, run_id: str, execution_id: str,
          env: Mapping[str, str], inherit_env: bool, base: str) -> None:
    private = prepared.private_dir
    _write(private / OWNER_FILE, execution_id or run_id)
    action = options["action"]

    envvars: dict[str, str] = {}
    if not inherit_env:  # ansible-runner starts from the worker's environment: keep only the basics
        envvars.update({k: v for k, v in os.environ.items() if k in BASE_ENV or k.startswith("LC_")})
    envvars.update(env)
    path_value = envvars.get("PATH", os.environ.get("PATH", os.defpath))
    bin_dir = prepared.bin_dir = ansible_bin_dir(path_value)
    if bin_dir not in path_value.split(os.pathsep):
        path_value = bin_dir + os.pathsep + path_value
    envvars["PATH"] = path_value
    envvars[RUN_ID_ENV] = run_id
    envvars[RUNNER_ENV] = RUNNER_NAME
    if execution_id:
        envvars[EXECUTION_ID_ENV] = execution_id
    # An inventory that was given and cannot be parsed is an error, not an empty host list
    # and a warning. Without one, ansible's implicit localhost applies (a syntax check needs
    # no inventory at all).
    if options.get("inventory"):
        envvars.setdefault("ANSIBLE_INVENTORY_UNPARSED_FAILED", "True")
    envvars.setdefault("ANSIBLE_LOCAL_TEMP", str(private / "tmp"))
    # SSH connection masters (ControlPersist) of this run only; they are stopped at its end.
    envvars.setdefault("ANSIBLE_SSH_CONTROL_PATH_DIR", str(private / "cp"))
    if not options.get("color"):
        envvars.setdefault("ANSIBLE_NOCOLOR", "True")
    envvars.setdefault("ANSIBLE_FORCE_COLOR", "False")

    cmdline: list[str] = []
    passwords: dict[str, str] = {}
    for name, prompt in PROMPTS.items():
        value = options.get(name)
        if value:
            passwords[prompt] = value
            cmdline.append(ASK_FLAGS[name])
    if options.get("ssh_key"):
        key = options["ssh_key"]
        key_path = _write(private / "credentials" / "ssh_key", key if key.endswith("\n") else key + "\n")
        prepared.credentials.append(key_path)
        envvars["ANSIBLE_PRIVATE_KEY_FILE"] = str(key_path)
    if options.get("ssh_user"):
        envvars["ANSIBLE_REMOTE_USER"] = options["ssh_user"]
    if options.get("become"):
        cmdline.append("--become")
    if options.get("become_user"):
        envvars["ANSIBLE_BECOME_USER"] = options["become_user"]
    if options.get("become_method"):
        envvars["ANSIBLE_BECOME_METHOD"] = options["become_method"]
    if options.get("check"):
        cmdline.append("--check")
    if options.get("diff"):
        cmdline.append("--diff")
    if action == "syntax_check":
        cmdline.append("--syntax-check")

    inventory = _inventory(private, options.get("inventory"), base)
    prepared.inventories = [inventory] if inventory else []
    project_dir = _path(options["project_dir"], base) if options.get("project_dir") else None
    if project_dir is not None and not os.path.isdir(project_dir):
        raise RunnerError(f"options.project_dir: {project_dir} is not a directory")
    roles = [_path(p, base) for p in ([options["roles_path"]] if isinstance(options.get("roles_path"), str)
                                      else options.get("roles_path") or [])]
    if project_dir is not None and os.path.isdir(os.path.join(project_dir, "roles")):
        roles.append(os.path.join(project_dir, "roles"))
    if roles:
        envvars["ANSIBLE_ROLES_PATH"] = os.pathsep.join(roles)
    if options.get("extra_vars"):
        _write(private / "env" / "extravars", json.dumps(options["extra_vars"]))
    # ansible-runner's settings file (the ``settings`` argument is dropped when there is no
    # such file): no stdout file, and how often the cancel callback is asked.
    _write(private / "env" / "settings", json.dumps({
        "suppress_output_file": action != "inventory", "pexpect_timeout": POLL_SECONDS,
        "suppress_ansible_output": True}))

    kwargs: dict[str, Any] = {
        "private_data_dir": str(private),
        "ident": run_id,
        "envvars": envvars,
        "passwords": passwords,
        "quiet": True,
        "suppress_env_files": True,  # the passwords stay in memory, never in env/passwords
        "cmdline": " ".join(cmdline) or None,
        "inventory": inventory,
        "limit": _csv(options.get("limit")),
        "tags": _csv(options.get("tags")),
        "skip_tags": _csv(options.get("skip_tags")),
        "forks": options.get("forks"),
        "verbosity": options.get("verbosity") or None,
        "host_cwd": project_dir or base,
    }
    if project_dir is not None:
        kwargs["project_dir"] = project_dir
    if action in ("playbook", "syntax_check"):
        playbook = options["playbook"]
        if is_text(playbook):
            target = _write(private / "project" / "playbook.yml", playbook)
            kwargs["playbook"] = str(target)
        else:
            kwargs["playbook"] = _path(playbook, project_dir or base)
        if project_dir is None:
            kwargs["project_dir"] = os.path.dirname(kwargs["playbook"])
    elif action in ("ping", "facts", "module"):
        kwargs["host_pattern"] = options.get("host_pattern") or "all"
        if action == "ping":
            kwargs["module"] = "ping"
        elif action == "facts":
            kwargs["module"] = "setup"
            flt = options.get("fact_filter")
            if flt:
                kwargs["module_args"] = json.dumps({"filter": [flt] if isinstance(flt, str) else list(flt)})
        else:
            kwargs["module"] = options["module"]
            args = options.get("module_args")
            if args:
                kwargs["module_args"] = args if isinstance(args, str) else json.dumps(args)
    prepared.kwargs = {k: v for k, v in kwargs.items() if v is not None}


def _inventory(private: Path, value: str | list[str] | None, base: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return str(_write(private / "inventory" / "hosts.yml", host_list_inventory(value)))
    if is_text(value):
        # No extension: Ansible's ini and yaml plugins both try it, so either format works.
        return str(_write(private / "inventory" / "hosts", value))
    return _path(value, base)


__all__ = ["ASK_FLAGS", "DIR_PREFIX", "OWNER_FILE", "POLL_SECONDS", "PROMPTS", "Prepared", "ansible_bin_dir", "build",
           "host_list_inventory", "is_text"]
