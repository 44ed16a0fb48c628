"""Bad input and a bad environment at the command line: one line naming what is wrong, the
documented exit code, no traceback, nothing half-recorded."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import BIN, rw


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWRIGHT_", "DATABASE_URL"))}
    env["RUNWRIGHT_HOME"] = str(tmp_path / "home")
    return env


def one_line_error(out: subprocess.CompletedProcess[str], code: int, words: str) -> str:
    assert out.returncode == code, (out.returncode, out.stderr)
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("runwright: ") and words in lines[0], out.stderr
    return lines[0]


def recorded(env: dict[str, str]) -> list[dict]:  # type: ignore[type-arg]
    return json.loads(rw(env, "list", "--json").stdout)  # type: ignore[no-any-return]


def test_a_non_utf8_argument_runs_and_is_recorded(cli_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    name = os.fsencode(tmp_path) + b"/caf\xe9.txt"
    Path(os.fsdecode(name)).write_bytes(b"du contenu\n")
    out = subprocess.run([BIN.encode(), b"run", b"--", b"cat", name], env=cli_env, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == b"du contenu\n"
    [row] = recorded(cli_env)
    assert row["status"] == "success" and row["command"].endswith("caf\\xe9.txt'")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-t", "3000000"], "timeout: must be at most 2592000 seconds"),
        (["-t", "1e308"], "timeout: must be at most"),
        (["-o", "read_size=99999999999999999999"], "options.read_size: must be between 1 and"),
        (["-o", "nope=1"], "options.nope: unknown option"),
        (["-e", "A=x\x01", "-l", "k=caf\udce9"], "labels['k']: value is not valid UTF-8 text"),
        # JSON option values can carry NUL and lone surrogates: on PostgreSQL the first started
        # the run and failed its recording (exit 125, the row left `running`).
        (["-r", "docker", "-o", 'image="a\\u0000b"'], "options.image: value contains a NUL byte"),
        (["-r", "docker", "-o", 'image="caf\\udce9"'], "options.image: value is not valid UTF-8 text"),
    ],
)
def test_out_of_bounds_options_are_refused_before_anything_runs(cli_env, args, words) -> None:  # type: ignore[no-untyped-def]
    one_line_error(rw(cli_env, "run", *args, "--", "true"), 2, words)
    assert recorded(cli_env) == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        # Each numeric option declares its bounds: this one reached the socket (OverflowError).
        (["-r", "jenkins", "-o", "url=http://127.0.0.1:1/", "-o", "job=j", "-o", "request_timeout=1e308"],
         "options.request_timeout: must be between 0.001 and 3600, got 1e+308"),
        (["-r", "ansible", "-o", "action=ping", "-o", "inventory=localhost,", "-o", "forks=100000000000000000000"],
         "options.forks: must be between 1 and 10000"),
    ],
)
def test_a_number_outside_an_options_declared_bounds_is_refused(cli_env, args, words) -> None:  # type: ignore[no-untyped-def]
    one_line_error(rw(cli_env, "run", *args), 2, words)
    assert recorded(cli_env) == []


def test_a_secret_without_a_key_is_refused_without_repeating_it(cli_env) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(rw(cli_env, "run", "--secret", "hunter2-value", "--", "true"), 2, "expected KEY=VALUE")
    assert "hunter2-value" not in line


@pytest.mark.parametrize(
    ("env", "args", "words"),
    [
        ({"DATABASE_URL": "postgres://u:pg-pw-9@127.0.0.1:1/x"}, ["list"], "database unavailable (DATABASE_URL)"),
        ({"DATABASE_URL": "foo://bar"}, ["list"], "Scheme 'foo://' is unknown"),
        ({"DATABASE_URL": ":::garbage"}, ["run", "--", "true"], "DATABASE_URL"),
        ({"RUNWRIGHT_LEASE": "abc"}, ["reap"], "RUNWRIGHT_LEASE='abc': expected a number of seconds"),
        ({"RUNWRIGHT_HEARTBEAT": "-1"}, ["reap"], "RUNWRIGHT_HEARTBEAT='-1': expected seconds between"),
        ({"RUNWRIGHT_BROKER_URL": "foo://x"}, ["submit", "--", "true"], "unknown transport 'foo'"),
        ({"RUNWRIGHT_BROKER_URL": ":::garbage"}, ["submit", "--", "true"], "expected scheme://"),
        ({"RUNWRIGHT_BROKER_URL": "redis://:br-pw-9@127.0.0.1:1/0"}, ["submit", "--", "true"], "broker unavailable"),
        ({"RUNWRIGHT_INHERIT_ENV": "everything"}, ["worker"], "RUNWRIGHT_INHERIT_ENV='everything'"),
        # Regression: Celery's 60-line traceback of the refused login, exit 0.
        ({"RUNWRIGHT_BROKER_URL": "amqp://nobody:br-pw-9@127.0.0.1:5672//"}, ["worker"], "ACCESS_REFUSED"),
        ({"RUNWRIGHT_BROKER_URL": "redis://nobody:br-pw-9@127.0.0.1:6379/0"}, ["worker"], "invalid username-password"),
    ],
)
def test_an_unusable_environment_is_one_line_and_exit_125(cli_env, env, args, words) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(rw({**cli_env, **env}, *args), 125, words)
    assert "pg-pw-9" not in line and "br-pw-9" not in line


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("w%x@%h", "unknown placeholder %x"),
        ("w%Q", "unknown placeholder %Q"),
        ("", "the name is empty"),
        ("   ", "the name is empty"),
        ("w1\t@%h", "control characters are not allowed"),
        ("w" * 300, "at most 200"),
    ],
)
def test_a_worker_name_celery_would_refuse_is_one_line_and_exit_2(cli_env, name, words) -> None:  # type: ignore[no-untyped-def]
    one_line_error(rw(cli_env, "worker", "--hostname", name), 2, words)
    assert not (Path(cli_env["RUNWRIGHT_HOME"]) / "runwright.sqlite3").exists(), "nothing was set up before the check"


def _declared_seconds() -> list[str]:
    from runwright.integrations.settings import SECONDS

    return sorted(SECONDS)


@pytest.mark.parametrize("name", _declared_seconds())
@pytest.mark.parametrize("value", ["abc", "1e308", "nan", "-1"])
def test_every_duration_setting_is_checked_before_a_run_is_recorded(cli_env, name, value) -> None:  # type: ignore[no-untyped-def]
    # Regression: RUNWRIGHT_CANCEL_POLL=abc was "internal error (ValueError)", its 0, -1, nan and
    # 1e308 were taken as they were, like RUNWRIGHT_QUEUED_LEASE's and RUNWRIGHT_REATTACH_WINDOW's;
    # RUNWRIGHT_TASK_TIME_LIMIT=abc recorded the run `error` before it was refused.
    one_line_error(rw({**cli_env, name: value}, "run", "--", "true"), 125, f"{name}={value!r}: expected")
    assert recorded(cli_env) == []


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"RUNWRIGHT_TIME_ZONE": "Mars/Olympus"}, "RUNWRIGHT_TIME_ZONE='Mars/Olympus': not a time zone name"),
        ({"RUNWRIGHT_KUBE_IN_CLUSTER": "yes"}, "RUNWRIGHT_KUBE_IN_CLUSTER='yes': expected 1 or 0"),
        ({"RUNWRIGHT_QUEUE": " "}, "RUNWRIGHT_QUEUE=' ': is blank"),
        ({"RUNWRIGHT_CELERY_APP": "::"}, "RUNWRIGHT_CELERY_APP='::': expected module.path:app"),
        # Regression: "internal error (ModuleNotFoundError)" and the run left `pending` forever.
        ({"RUNWRIGHT_CELERY_APP": "no_such_module:app"}, "RUNWRIGHT_CELERY_APP='no_such_module:app' cannot be imported"),
        ({"RUNWRIGHT_CELERY_APP": "os:path"}, "RUNWRIGHT_CELERY_APP='os:path' is not a Celery app"),
    ],
)
def test_a_setting_of_the_wrong_shape_is_refused_before_a_submit_is_recorded(cli_env, env, words) -> None:  # type: ignore[no-untyped-def]
    one_line_error(rw({**cli_env, **env}, "submit", "--", "true"), 125, words)
    assert recorded(cli_env) == []


def test_runwright_home_that_is_a_file(cli_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    home = tmp_path / "afile"
    home.write_text("")
    one_line_error(rw({**cli_env, "RUNWRIGHT_HOME": str(home)}, "run", "--", "true"), 125, "is not a directory")


@pytest.fixture
def tmpfs(tmp_path) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """A small file system of its own (needs root, as the project's machines and CI run)."""
    mount = tmp_path / "fs"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.fail(f"this test needs to mount a small tmpfs (as root): {made.stderr.decode().strip()}", pytrace=False)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_data_directory(cli_env, tmpfs) -> None:  # type: ignore[no-untyped-def]
    env = {**cli_env, "RUNWRIGHT_HOME": str(tmpfs)}
    one_line_error(rw(env, "run", "--", "true"), 125, "database or disk is full")


def test_a_data_directory_that_fills_up_during_a_run(cli_env, tmpfs) -> None:  # type: ignore[no-untyped-def]
    # Regression: two tracebacks (the runner's log of the failed report, whole) before the line.
    subprocess.run(["mount", "-o", "remount,size=1m", str(tmpfs)], check=True)
    env = {**cli_env, "RUNWRIGHT_HOME": str(tmpfs)}
    assert rw(env, "run", "--", "true").returncode == 0
    out = rw(env, "run", "--", "sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x")
    assert out.returncode == 125, out.stderr
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr and all(line.startswith("runwright: ") for line in lines), out.stderr
    # SQLite or the data directory, whichever finds the disk full first
    assert "database or disk is full" in lines[-1] or "No space left on device" in lines[-1], lines[-1]
    # The final status is written by the run itself when the disk still had room for it (`error`,
    # naming the full disk), else, once there is room again, by the next command, which stops
    # what is left of the run and marks it lost. Either way what was stored stays.
    subprocess.run(["mount", "-o", "remount,size=8m", str(tmpfs)], check=True)
    rows = {r["id"]: r for r in recorded(env)}
    ended = rows[2]["status"], rows[2]["error_message"]
    assert ended[0] == "lost" or (ended[0] == "error" and "No space left on device" in ended[1]), ended
    stored = rw(env, "logs", "2").stdout
    assert stored and set(stored) == {"x"}


def test_a_read_only_data_directory_and_database(cli_env, tmpfs) -> None:  # type: ignore[no-untyped-def]
    subprocess.run(["mount", "-o", "remount,size=8m", str(tmpfs)], check=True)
    env = {**cli_env, "RUNWRIGHT_HOME": str(tmpfs)}
    assert rw(env, "run", "--", "true").returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    one_line_error(rw(env, "run", "--", "true"), 125, "database unavailable")
    one_line_error(rw({**env, "RUNWRIGHT_HOME": str(tmpfs / "sub")}, "list"), 125, "Read-only file system")


@pytest.mark.parametrize(
    ("group", "words"),
    [
        ({"max_parallel": "2"}, "'max_parallel' must be an integer, got str '2'"),
        ({"max_parallel": 0}, "'max_parallel' must be between 1 and the number of runs"),
        ({"name": 5}, "'name' must be a str, got int 5"),
        ({"name": "a\u0000b"}, "'name' contains a NUL byte"),  # PostgreSQL: "database unavailable", exit 125
        ({"name": "caf\udce9"}, "'name' is not valid UTF-8 text"),  # was UnicodeEncodeError, exit 125
        ({"name": "n" * 1000}, "'name' is 1000 characters long; at most 200"),
        ({"policy": "sometimes"}, "'policy' must be one of wait_all, fail_fast, wait_any"),
        ({"runs": [{"command": ["true"], "runner": "nope"}]}, "runs[0].unknown runner 'nope'"),
        ({"runs": [{"command": ["true"], "env": {"A": "x\u0000"}}]}, "runs[0].env['A']: contains a NUL byte"),
        ({"runs": [{"command": ["true"], "labels": {"k": "\u0000"}}]}, "runs[0].labels['k']: value contains a NUL"),
        ({"runs": []}, "a group needs at least one run"),
        ({"extra": 1}, "unknown key 'extra'"),
    ],
)
def test_a_bad_group_file_is_refused_before_anything_is_recorded(cli_env, tmp_path, group, words) -> None:  # type: ignore[no-untyped-def]
    spec_file = tmp_path / "group.json"
    spec_file.write_text(json.dumps({"runs": [{"command": ["true"]}, {"command": ["true"]}], **group}))
    one_line_error(rw(cli_env, "group", str(spec_file)), 2, words)
    assert recorded(cli_env) == []


@pytest.mark.parametrize(("broker", "words"), [
    ("foo://x", "RUNWRIGHT_BROKER_URL: unknown transport 'foo'"),
    (":::garbage", "RUNWRIGHT_BROKER_URL: expected scheme://"),
])
def test_a_group_with_an_unusable_broker_url_records_nothing(cli_env, tmp_path, broker, words) -> None:  # type: ignore[no-untyped-def]
    # Regression: exit 0 and a group recorded `failed` with children `error`.
    spec_file = tmp_path / "group.json"
    spec_file.write_text(json.dumps({"runs": [{"command": ["true"]}]}))
    one_line_error(rw({**cli_env, "RUNWRIGHT_BROKER_URL": broker}, "group", str(spec_file)), 125, words)
    assert recorded(cli_env) == []


def test_a_group_whose_broker_is_unreachable_exits_125_and_is_not_left_running(cli_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Regression: exit 0 with nothing on stderr, as if the group had been queued.
    spec_file = tmp_path / "group.json"
    spec_file.write_text(json.dumps({"runs": [{"command": ["true"]}, {"command": ["true"]}]}))
    env = {**cli_env, "RUNWRIGHT_BROKER_URL": "redis://:br-pw-9@127.0.0.1:1/0"}
    out = rw(env, "group", str(spec_file))
    line = one_line_error(out, 125, "could not be queued")
    assert "br-pw-9" not in line
    rows = {r["id"]: r for r in recorded(cli_env)}
    parent = rows[int(out.stdout)]
    assert parent["status"] == "failed"
    assert all(r["status"] == "error" for r in rows.values() if r["parent_id"] == parent["id"])


def test_a_closed_stdout_stops_the_run_as_cancelled_and_exits_141(cli_env) -> None:  # type: ignore[no-untyped-def]
    out = subprocess.run(["bash", "-o", "pipefail", "-c", f"'{BIN}' run -- seq 1 100000000 | head -3"],
                         env=cli_env, capture_output=True, text=True, timeout=120)
    assert out.stdout == "1\n2\n3\n"
    assert out.returncode == 141, out.stderr
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr
    [row] = recorded(cli_env)
    shown = json.loads(rw(cli_env, "show", str(row["id"]), "--json").stdout)
    assert shown["status"] == "cancelled" and "stdout was closed" in shown["error_message"]
    assert rw(cli_env, "logs", str(row["id"])).stdout.startswith("1\n2\n3\n4\n")  # recorded as it ran


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e400"])
def test_a_non_finite_option_value_is_one_line_naming_it(tmp_path, value: str) -> None:  # type: ignore[no-untyped-def]
    # Regression: the CLI's own error handler crashed (UnboundLocalError) when RunSpec refused a value.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNWRIGHT_", "DATABASE_URL", "DJANGO_"))}
    env["RUNWRIGHT_HOME"] = str(tmp_path / "home")
    out = subprocess.run([BIN, "run", "-r", "jenkins", "-o", "url=http://127.0.0.1:1/", "-o", "job=j",
                          "-o", f"poll_interval={value}"], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        f"runwright: options.poll_interval: must be a finite number, got {float(value)!r} (see `runwright runners`)"]
