"""The `runwright` command as a user runs it: a real process, its output and exit code."""

from __future__ import annotations

import json
import os
import signal
import socket
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
    listed = json.loads(rw(cli_env, "list", "--json").stdout)
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


def test_logs_follow_prints_live_output_until_the_end(cli_env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The command cannot finish before the test opens the gate, and the test opens it only
    # after the follower printed the first line: that line was followed live.
    gate = tmp_path / "gate"
    script = f"echo line1; while [ ! -e {gate} ]; do sleep 0.02; done; for i in 2 3 4 5; do echo line$i; done"
    runner = subprocess.Popen([BIN, "run", "--", "sh", "-c", script],
                              env=cli_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while rw(cli_env, "list", "--json").stdout.strip() in ("", "[]") and time.monotonic() < deadline:
        time.sleep(0.05)
    follower = subprocess.Popen([BIN, "logs", "1", "--follow"], env=cli_env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
    first = follower.stdout.readline()
    assert runner.poll() is None, "the run cannot have ended before the gate opened"
    gate.touch()
    rest = follower.stdout.read()
    assert follower.wait(timeout=30) == 0, follower.stderr.read()
    assert runner.wait(timeout=30) == 0
    assert first + rest == "".join(f"line{i}\n" for i in range(1, 6))


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
    assert "local\trunwright.runners.local:LocalRunner" in rw(cli_env, "runners").stdout


def test_processes_starting_together_on_a_fresh_database_all_work(cli_env) -> None:  # type: ignore[no-untyped-def]
    # Regression: two processes migrating a fresh database at once made one of them crash.
    procs = [subprocess.Popen([BIN, "run", "--", "echo", str(i)], env=cli_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(4)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outs]
    assert sorted(out for out, _ in outs) == ["0\n", "1\n", "2\n", "3\n"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--timeout", "abc", "--", "true"], "Invalid value for '--timeout'"),
        (["nosuchcommand"], "No such command 'nosuchcommand'"),
        (["show"], "Missing argument"),
        (["run", "--grace", "-1", "--", "true"], "Invalid value for '--grace': -1.0 is smaller than the minimum 0."),
        (["list", "--limit", "0"], "Invalid value for '--limit'"),
        (["run", "--nope"], "No such option: --nope"),
    ],
)
def test_usage_errors_exit_2_with_the_parser_message(cli_env, args, message) -> None:  # type: ignore[no-untyped-def]
    # They were reported as "internal error (BadParameter ...)" with exit 125: the CLI caught
    # the real click's exceptions while typer raises those of its own vendored click. Then
    # they were a 5-line box; now one line, like every other bad input.
    out = rw(cli_env, *args)
    assert out.returncode == 2, out.stderr
    assert message in out.stderr and "internal error" not in out.stderr and "Traceback" not in out.stderr
    [line] = out.stderr.strip().splitlines()
    assert line.startswith("runwright: ") and line.endswith("--help`)")


def test_a_killed_runwright_run_leaves_nothing_running(cli_env) -> None:  # type: ignore[no-untyped-def]
    # Regression: with the CLI killed, the run stayed `running` with its command alive until
    # someone ran `reap` by hand. Now the command dies with it (parent-death signal) and the
    # next runwright command on the database stops the rest and marks the run lost.
    from tests.helpers import pids_with, token

    tok = token()
    cli = subprocess.Popen([BIN, "run", "--", "sh", "-c", f"sleep {tok} & echo started; wait"], env=cli_env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert cli.stdout is not None and cli.stdout.readline() == "started\n"
        cli.send_signal(signal.SIGKILL)
        cli.wait(timeout=60)
        listed = json.loads(rw(cli_env, "list", "--json").stdout)
        assert [(r["id"], r["status"]) for r in listed] == [(1, "lost")]
        assert "is gone" in listed[0]["error_message"] and "stopped through its handle" in listed[0]["error_message"]
        assert pids_with(tok) == [], "a process of the run outlived its killed supervisor"
    finally:
        for pid in pids_with(tok):
            os.kill(pid, signal.SIGKILL)


def test_a_cli_command_leaves_a_dead_celery_workers_run_to_the_worker_reaper(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Regression (break-it, issue 8): any runwright command on a worker's host stopped the work
    # of a Celery run whose worker had just died and marked it lost, before the redelivered
    # message could re-attach to it (Docker, Kubernetes, remote builds).
    import sqlite3

    from tests.helpers import pids_with, token

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {"RUNWRIGHT_HOME": str(tmp_path / "home")}
    ref = rw(env, "submit", "--", "true").stdout.strip()  # queued, no worker yet: it has a task id
    tok = token()
    work = subprocess.Popen(["sleep", tok])  # the work a worker started, still running
    gone = subprocess.Popen(["true"])
    gone.wait()  # the worker: a pid of this host that no longer exists
    try:
        db = sqlite3.connect(tmp_path / "home" / "runwright.sqlite3")
        with db:  # what the worker had stored before it died
            db.execute("UPDATE runwright_execution SET status='running', worker=?, started_at=created_at, "
                       "heartbeat_at=created_at, handle=? WHERE id=?",
                       (f"{socket.gethostname()}:{gone.pid}", json.dumps({"pid": work.pid}), int(ref)))
        db.close()
        shown = json.loads(rw(env, "show", ref, "--json").stdout)
        assert shown["status"] == "running", shown["error_message"]
        assert pids_with(tok) == [work.pid], "the CLI stopped a Celery run's work"
        # A run the CLI itself supervised (no task) is still reaped as before.
        assert rw(env, "run", "--", "true").returncode == 0
    finally:
        work.kill()
        work.wait()


def test_a_closed_terminal_cancels_the_run(cli_env) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import pids_with, token

    tok = token()
    cli = subprocess.Popen([BIN, "run", "--", "sh", "-c", f"echo started; sleep {tok}"], env=cli_env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert cli.stdout is not None and cli.stdout.readline() == "started\n"
    cli.send_signal(signal.SIGHUP)
    assert cli.wait(timeout=120) == 130
    shown = json.loads(rw(cli_env, "show", "1", "--json").stdout)
    assert shown["status"] == "cancelled" and "SIGHUP" in shown["error_message"]
    assert pids_with(tok) == []


def test_nothing_of_a_cli_run_outlives_it_not_even_a_daemon_that_closed_its_descriptors(cli_env) -> None:  # type: ignore[no-untyped-def]
    from tests.helpers import pids_with, token

    tok = token()
    daemon = (f"{sys.executable} -c 'import subprocess; subprocess.Popen([\"sleep\", \"{tok}\"], "
              "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)'; echo done")
    try:
        out = rw(cli_env, "run", "--", "sh", "-c", daemon)
        assert out.returncode == 0 and out.stdout == "done\n", out.stderr
        assert pids_with(tok) == [], "a daemon of the run outlived it"
    finally:
        for pid in pids_with(tok):
            os.kill(pid, signal.SIGKILL)
