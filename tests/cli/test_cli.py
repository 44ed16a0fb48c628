"""The `runwright` command as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = str(Path(sys.executable).parent / "runwright")


@pytest.fixture
def cli_env(tmp_path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = dict(os.environ, RUNWRIGHT_HOME=str(tmp_path / "home"))
    return env


def rw(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_run_streams_records_and_exits_with_the_commands_code(cli_env) -> None:  # type: ignore[no-untyped-def]
    out = rw(cli_env, "run", "--env", "WHO=world", "--", "sh", "-c", 'echo "hello $WHO"; echo warn >&2; exit 3')
    assert out.returncode == 3
    assert out.stdout == "hello world\n"
    assert "warn\n" in out.stderr
    summary = out.stderr.strip().splitlines()[-1]
    assert summary.startswith("runwright: execution 1 failed in ") and "exit code 3" in summary
    shown = json.loads(rw(cli_env, "show", "1", "--json").stdout)
    assert shown["status"] == "failed" and shown["exit_code"] == 3 and shown["stdout_tail"] == "hello world\n"
    logs = rw(cli_env, "logs", "1")
    assert logs.stdout == "hello world\n" and logs.stderr == "warn\n"
    listed = [json.loads(line) for line in rw(cli_env, "list", "--json").stdout.splitlines()]
    assert [(r["id"], r["status"]) for r in listed] == [(1, "failed")]


@pytest.mark.parametrize(
    ("args", "code", "status"),
    [
        (["--", "true"], 0, "success"),
        (["--timeout", "0.5", "--", "sleep", "30"], 124, "timeout"),
        (["--", "/no/such/command"], 125, "error"),
        (["--cwd", "/no/such/dir", "--", "true"], 125, "error"),
        (["--", "sh", "-c", "kill -TERM $$"], 143, "failed"),
    ],
)
def test_exit_codes(cli_env, args, code, status) -> None:  # type: ignore[no-untyped-def]
    out = rw(cli_env, "run", *args)
    assert out.returncode == code, out.stderr
    assert json.loads(rw(cli_env, "show", "1", "--json").stdout)["status"] == status


def test_ctrl_c_cancels_the_run_and_exits_130(cli_env) -> None:  # type: ignore[no-untyped-def]
    proc = subprocess.Popen([BIN, "run", "--", "sh", "-c", "echo ready; sleep 30"], env=cli_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 130
    assert json.loads(rw(cli_env, "show", "1", "--json").stdout)["status"] == "cancelled"


def test_secret_option_is_masked_everywhere(cli_env) -> None:  # type: ignore[no-untyped-def]
    out = rw(cli_env, "run", "--secret", "DB_PASS=pa55-w0rd-xyz", "--", "sh", "-c", 'echo "pass=$DB_PASS"')
    assert out.stdout == "pass=***\n"
    for args in (["show", "1", "--json"], ["logs", "1"], ["list", "--json"]):
        assert "pa55-w0rd-xyz" not in rw(cli_env, *args).stdout


def test_logs_follow_prints_live_output_until_the_end(cli_env) -> None:  # type: ignore[no-untyped-def]
    runner = subprocess.Popen([BIN, "run", "--", "sh", "-c", "for i in 1 2 3 4 5; do echo line$i; sleep 0.3; done"],
                              env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while rw(cli_env, "list", "--json").stdout.strip() == "" and time.monotonic() < deadline:
        time.sleep(0.05)
    t0 = time.monotonic()
    follower = subprocess.Popen([BIN, "logs", "1", "--follow"], env=cli_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    first = follower.stdout.readline()
    first_at = time.monotonic() - t0
    rest = follower.stdout.read()
    assert follower.wait(timeout=15) == 0, follower.stderr.read()
    assert runner.wait(timeout=15) == 0
    assert first + rest == "".join(f"line{i}\n" for i in range(1, 6))
    assert first_at < 1.2, "the follower must print output while the run is live"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--runner", "nope", "--", "true"], "unknown runner 'nope'; installed runners: "),
        (["run", "--env", "NOEQUALS", "--", "true"], "--env 'NOEQUALS': expected KEY=VALUE"),
        (["run", "--timeout", "-1", "--", "true"], "timeout: must be positive"),
        (["run"], "no command given"),
        (["show", "999"], "no execution with id '999'"),
        (["logs", "abc"], "no execution with id 'abc'"),
        (["list", "--status", "weird"], "--status 'weird': expected one of"),
    ],
)
def test_bad_input_is_one_clear_line(cli_env, args, message) -> None:  # type: ignore[no-untyped-def]
    out = rw(cli_env, *args)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr


def test_runners_lists_the_entry_points(cli_env) -> None:  # type: ignore[no-untyped-def]
    assert "local\trunners.local:LocalRunner" in rw(cli_env, "runners").stdout


def test_processes_starting_together_on_a_fresh_database_all_work(cli_env) -> None:  # type: ignore[no-untyped-def]
    # Regression: two processes migrating a fresh database at once made one of them crash.
    procs = [subprocess.Popen([BIN, "run", "--", "echo", str(i)], env=cli_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outs]
    assert sorted(out for out, _ in outs) == ["0\n", "1\n", "2\n", "3\n"]
