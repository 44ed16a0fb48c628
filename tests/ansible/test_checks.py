"""Ad-hoc checks (ping, facts, a module), syntax check and inventory validation: each a
recorded run with its own verdict."""

from __future__ import annotations

from pathlib import Path

from runwright.runners import Status
from tests.ansible.conftest import LOCAL, host_events, play, run_ansible
from tests.infra.sshd import closed_port


def test_ping_reports_each_host_reachable_or_not_with_the_reason() -> None:
    port = closed_port()
    result, rec = run_ansible({"action": "ping", "inventory": ["localhost", f"127.0.0.1:{port}"]})
    assert result.status == Status.FAILED
    ping = result.metadata["ping"]
    assert ping["localhost"] == {"reachable": True, "ping": "pong"}
    down = ping["127.0.0.1"]
    assert down["reachable"] is False and down["state"] == "unreachable"
    assert f"port {port}: Connection refused" in down["reason"]
    assert result.error is not None and result.error.startswith("1 host(s) unreachable: 127.0.0.1 (")
    assert sorted(e["status"] for e in host_events(rec)) == ["ok", "unreachable"]


def test_ping_of_reachable_hosts_succeeds() -> None:
    result, _ = run_ansible({"action": "ping", "inventory": LOCAL})
    assert result.status == Status.SUCCESS, result.error
    assert result.metadata["ping"] == {"localhost": {"reachable": True, "ping": "pong"}}


def test_facts_with_a_filter_land_in_the_metadata() -> None:
    result, rec = run_ansible({"action": "facts", "inventory": LOCAL,
                               "fact_filter": ["ansible_distribution", "ansible_system"]})
    assert result.status == Status.SUCCESS, result.error
    facts = result.metadata["facts"]["localhost"]
    assert set(facts) == {"ansible_distribution", "ansible_system"}
    assert facts["ansible_system"] == "Linux"
    # The facts are in the metadata, not repeated in every event.
    assert all("ansible_facts" not in str(data) for _, data in rec.events())


def test_ad_hoc_module_with_arguments() -> None:
    result, rec = run_ansible({"action": "module", "module": "command", "module_args": "echo from-an-ad-hoc-run",
                               "inventory": LOCAL})
    assert result.status == Status.SUCCESS, result.error
    assert "from-an-ad-hoc-run" in rec.stdout.decode()
    assert [e["status"] for e in host_events(rec)] == ["changed"]
    failed, _ = run_ansible({"action": "module", "module": "command", "module_args": {"argv": ["false"]},
                             "inventory": LOCAL})
    assert failed.status == Status.FAILED
    assert failed.error == "task failures on 1 host(s): localhost (task 'command': non-zero return code)"


def test_syntax_check_of_a_good_playbook_succeeds_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    result, rec = run_ansible({"action": "syntax_check", "inventory": LOCAL,
                               "playbook": play(f"name: would write\ncommand: touch {marker}")})
    assert result.status == Status.SUCCESS, result.error
    assert not marker.exists() and not host_events(rec)


def test_syntax_check_of_a_bad_playbook_is_an_error_with_ansibles_message() -> None:
    result, _ = run_ansible({"action": "syntax_check", "inventory": LOCAL,
                             "playbook": play("name: typo\ndebugg: msg=x")})
    assert result.status == Status.ERROR
    assert result.error is not None
    assert "couldn't resolve module/action 'debugg'" in result.error


def test_inventory_validation_lists_hosts_and_groups(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[web]\nweb1 ansible_host=10.0.0.1\nweb2\n[db]\ndb1\n[prod:children]\nweb\ndb\n")
    result, rec = run_ansible({"action": "inventory", "inventory": str(inventory)})
    assert result.status == Status.SUCCESS, result.error
    assert result.metadata["hosts"] == ["db1", "web1", "web2"]
    assert {"web", "db", "prod", "all"} <= set(result.metadata["groups"])
    assert b'"ansible_host": "10.0.0.1"' in rec.stdout  # ansible-inventory's own output, streamed


def test_inventory_validation_of_bad_input_is_an_error_with_ansibles_message(tmp_path: Path) -> None:
    result, _ = run_ansible({"action": "inventory", "inventory": str(tmp_path / "missing.ini")})
    assert result.status == Status.ERROR
    assert result.error is not None and result.error.startswith("inventory is not valid: ")
    assert f"Unable to parse {tmp_path / 'missing.ini'} as an inventory source" in result.error
    result, _ = run_ansible({"action": "inventory", "inventory": "all:\n  hosts: [\n"})
    assert result.status == Status.ERROR
    assert result.error is not None and "Failed to parse inventory with 'yaml' plugin" in result.error


def test_unparsable_playbook_never_reaches_the_hosts(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    playbook = play(f"command: touch {marker}") + "  - this is: [not valid\n"
    result, _ = run_ansible({"playbook": playbook, "inventory": LOCAL})
    assert result.status == Status.ERROR and not marker.exists()


def test_ansible_core_not_installed_is_an_error(tmp_path: Path) -> None:
    # A real environment with runwright and ansible-runner but without ansible-core: a
    # virtualenv whose site-packages holds everything of ours except ansible-core's packages.
    import subprocess
    import sys
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    ours = Path(sysconfig.get_paths()["purelib"])
    theirs = next((venv / "lib").glob("python3*/site-packages"))
    for entry in ours.iterdir():
        if entry.name in ("ansible", "ansible_test") or entry.name.startswith("ansible_core-"):
            continue
        target = theirs / entry.name
        if not target.exists():
            target.symlink_to(entry)
    script = (
        "import importlib.util, json; from runwright.runners import RunSpec, get_runner\n"
        "assert importlib.util.find_spec('ansible') is None and importlib.util.find_spec('ansible_runner')\n"
        "r = get_runner('ansible').run(RunSpec(runner='ansible', options={'playbook': 'site.yml'}))\n"
        "print(json.dumps([str(r.status), r.error]))\n"
    )
    done = subprocess.run([str(venv / "bin" / "python"), "-c", script], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stderr
    status, error = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert status == "error"
    assert error.startswith("ansible-core is not installed"), error
    assert "pip install 'runwright[ansible]'" in error
