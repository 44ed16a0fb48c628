"""The ansible runner from the `runwright` command: what to run is in the options, no command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.ansible.conftest import LOCAL, play

BIN = str(Path(sys.executable).parent / "runwright")


def rw(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, RUNWRIGHT_HOME=str(tmp_path / "home"))
    return subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)


def test_playbook_from_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "site.yml").write_text(play("name: hi\ndebug: msg=from-the-cli"))
    (tmp_path / "hosts.ini").write_text(LOCAL)
    out = rw(tmp_path, "run", "-r", "ansible", "-o", "playbook=site.yml", "-o", "inventory=hosts.ini",
             "-o", 'extra_vars={"x": 1}', "-o", "become_password=Cli-S3cret-pw")
    assert out.returncode == 0, out.stderr
    assert "from-the-cli" in out.stdout and "PLAY RECAP" in out.stdout
    shown = json.loads(rw(tmp_path, "show", "1", "--json").stdout)
    assert shown["status"] == "success" and shown["metadata"]["stats"]["localhost"]["ok"] == 1
    assert "Cli-S3cret-pw" not in json.dumps(shown)


def test_failing_playbook_from_the_command_line_says_which_host_and_task(tmp_path: Path) -> None:
    (tmp_path / "site.yml").write_text(play("name: boom\nfail: msg=kaput"))
    out = rw(tmp_path, "run", "-r", "ansible", "-o", "playbook=site.yml", "-o", f"inventory={LOCAL}")
    assert out.returncode == 2  # ansible-playbook's own exit code for failed hosts
    assert "task failures on 1 host(s): localhost (task 'boom': kaput)" in out.stderr


def test_a_command_is_still_required_for_runners_that_run_one(tmp_path: Path) -> None:
    out = rw(tmp_path, "run", "-r", "local")
    assert out.returncode != 0 and "no command given" in out.stderr
