"""Which settings the command line uses (`runwright info`), and commands whose extra is missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = str(Path(sys.executable).parent / "runwright")


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWRIGHT_", "DATABASE_URL", "DJANGO_"))}
    env["RUNWRIGHT_HOME"] = str(tmp_path / "home")
    return env


def test_info_names_the_embedded_database_and_broker(tmp_path: Path) -> None:
    out = subprocess.run([BIN, "info", "--json"], env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["mode"] == "standalone"
    assert data["database"] == f"sqlite {tmp_path / 'home' / 'runwright.sqlite3'}"
    assert data["broker"] == f"sqla+sqlite:///{tmp_path / 'home' / 'broker.sqlite3'}"
    assert data["queue"] == "runwright" and data["celery_app"] == "runwright-standalone"


def test_info_masks_the_broker_password(tmp_path: Path) -> None:
    env = dict(_env(tmp_path), RUNWRIGHT_BROKER_URL="redis://:hunter2-pw@127.0.0.1:6379/3")
    out = subprocess.run([BIN, "info"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "redis://:****@127.0.0.1:6379/3" in out.stdout and "hunter2-pw" not in out.stdout


@pytest.mark.parametrize("command", [["submit", "--", "true"], ["worker"], ["reap"], ["cancel", "1"]])
def test_a_command_whose_extra_is_missing_says_which_to_install(tmp_path: Path, command: list[str]) -> None:
    # As on a machine without the celery extra: the modules cannot be found.
    code = ("import sys; sys.modules['celery'] = None; from runwright.integrations.cli.app import main; "
            f"sys.exit(main({command!r}))")
    out = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert out.returncode == 3, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"runwright: `runwright {command[0]}` needs the celery extra (celery not installed): pip install 'runwright[celery]'"]


def test_an_unimportable_settings_module_is_one_line(tmp_path: Path) -> None:
    env = dict(_env(tmp_path), DJANGO_SETTINGS_MODULE="no_such_project.settings")
    out = subprocess.run([BIN, "list"], env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("runwright: DJANGO_SETTINGS_MODULE='no_such_project.settings' cannot be imported")


RUNNER_EXTRAS = {
    "docker": (["docker"], ["run", "--runner", "docker", "-o", "image=busybox", "--", "true"]),
    "ansible": (["ansible_runner"], ["run", "--runner", "ansible", "-o", "playbook=- hosts: localhost"]),
}


@pytest.mark.parametrize("extra", sorted(RUNNER_EXTRAS))
def test_a_runner_whose_extra_is_missing_records_one_line_naming_it(tmp_path: Path, extra: str) -> None:
    # Regression: without the docker SDK a run printed a cleanup traceback before its error;
    # without ansible-runner the error was "ModuleNotFoundError" and named no extra.
    modules, command = RUNNER_EXTRAS[extra]
    blocked = "; ".join(f"sys.modules[{m!r}] = None" for m in modules)
    code = f"import sys; {blocked}; from runwright.integrations.cli.app import main; sys.exit(main({command!r}))"
    out = subprocess.run([sys.executable, "-c", code], env=_env(tmp_path), capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "Traceback" not in out.stderr, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pip install 'runwright[{extra}]'" in lines[0], out.stderr


def test_a_postgres_database_without_its_driver_names_the_extra(tmp_path: Path) -> None:
    code = ("import sys; sys.modules['psycopg'] = None; sys.modules['psycopg2'] = None; "
            "from runwright.integrations.cli.app import main; sys.exit(main(['list']))")
    env = dict(_env(tmp_path), DATABASE_URL="postgres://nobody@127.0.0.1:9/none")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 3, out.stderr
    assert out.stderr.strip().splitlines() == [
        "runwright: a PostgreSQL database needs the postgres extra (psycopg not installed): "
        "pip install 'runwright[postgres]'"]
