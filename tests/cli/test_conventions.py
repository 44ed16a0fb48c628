"""The command line as users of docker, kubectl and gh expect it: run as a user runs it (a real
process), checking what it prints and its exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import yaml

BIN = str(Path(sys.executable).parent / "runwright")
SHAPE = {"id", "status", "runner", "command", "labels", "exit_code", "signal", "error_message", "worker", "created_at",
         "started_at", "finished_at", "duration_seconds", "queue_wait_seconds", "stdout_bytes", "stderr_bytes",
         "stored_bytes", "dropped_bytes", "parent_id", "active"}


@pytest.fixture
def env(tmp_path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")} | {
        "RUNWRIGHT_HOME": str(tmp_path / "home")}


def rw(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=120, input=stdin)


def wait_for(condition, what: str, deadline: float = 60) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_version_help_and_bare_command(env) -> None:  # type: ignore[no-untyped-def]
    from runwright import __version__

    out = rw(env, "--version")
    assert out.returncode == 0 and out.stdout.strip() == f"runwright {__version__}"
    bare = rw(env)
    assert bare.returncode == 0 and "Usage: runwright" in bare.stdout and "list" in bare.stdout
    for args in (["-h"], ["--help"], ["run", "-h"], ["list", "-h"], ["logs", "-h"]):
        out = rw(env, *args)
        assert out.returncode == 0 and "Usage: runwright" in out.stdout, args


def test_help_shows_readable_metavars_not_python_types(env) -> None:  # type: ignore[no-untyped-def]
    for command in ("run", "list", "show", "logs", "events", "submit", "worker", "stats", "serve", "group"):
        text = rw(env, command, "--help").stdout
        for python_type in ("<bool>", "<str>", "<int", "<float>", "<list["):
            assert python_type not in text, (command, python_type)
    run_help = rw(env, "run", "--help").stdout
    assert "SECONDS" in run_help and "KEY=VALUE" in run_help and "NAME" in run_help


def test_shell_completion_script_and_completions(env) -> None:  # type: ignore[no-untyped-def]
    script = rw(env, "--show-completion", "bash")
    assert script.returncode == 0 and "_runwright_completion" in script.stdout
    out = subprocess.run([BIN], env=env | {"_RUNWRIGHT_COMPLETE": "complete_bash", "COMP_WORDS": "runwright li",
                                           "COMP_CWORD": "1"}, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["list"]


def test_one_json_shape_for_list_show_and_yaml(env) -> None:  # type: ignore[no-untyped-def]
    assert rw(env, "list", "--json").stdout.strip() == "[]"
    rw(env, "run", "-l", "team=a", "--", "sh", "-c", "echo out; exit 3")
    rw(env, "run", "--", "true")
    listed = json.loads(rw(env, "list", "-o", "json").stdout)
    assert isinstance(listed, list) and [r["id"] for r in listed] == [2, 1]
    assert json.loads(rw(env, "list", "--json").stdout) == listed
    first = listed[1]
    assert set(first) == SHAPE
    assert first["exit_code"] == 3 and first["labels"] == {"team": "a"} and first["stdout_bytes"] == 4
    assert first["signal"] is None and first["parent_id"] is None
    assert first["worker"].rpartition(":")[2].isdigit(), "a CLI run records its supervisor (host:pid)"
    assert isinstance(first["duration_seconds"], float) and "duration" not in first
    for key in ("created_at", "started_at", "finished_at"):
        assert "T" in first[key] and datetime.fromisoformat(first[key]).utcoffset() is not None
    shown = json.loads(rw(env, "show", "1", "--json").stdout)
    assert {k: shown[k] for k in SHAPE} == first and shown["stdout_tail"] == "out\n"
    assert yaml.safe_load(rw(env, "list", "-o", "yaml").stdout) == listed
    assert yaml.safe_load(rw(env, "show", "1", "-o", "yaml").stdout) == shown


def test_quiet_wide_and_plain_columns_when_piped(env) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        rw(env, "run", "--", "true")
    assert rw(env, "list", "-q").stdout == "3\n2\n1\n"
    table = rw(env, "list").stdout
    assert table.splitlines()[0].split() == ["ID", "STATUS", "RUNNER", "COMMAND", "EXIT", "STARTED", "DURATION"]
    assert not any(ch in table for ch in "┏┃━│└┡")
    assert "UTC" in table and "exit code 0" in table
    wide = rw(env, "list", "-o", "wide").stdout.splitlines()[0].split()
    assert wide[-5:] == ["CREATED", "FINISHED", "OUTPUT", "WORKER", "LABELS"]
    bad = rw(env, "list", "-o", "xml")
    assert bad.returncode == 2 and "--output 'xml': expected one of" in bad.stderr


def test_human_output_has_no_none_negative_codes_or_repeats(env) -> None:  # type: ignore[no-untyped-def]
    killed = rw(env, "run", "--", "sh", "-c", "kill -TERM $$")
    assert killed.returncode == 143
    summary = killed.stderr.strip().splitlines()[-1]
    assert "signal SIGTERM (143)" in summary and "-15" not in summary and "None" not in summary
    failed = rw(env, "run", "--", "sh", "-c", "exit 3").stderr.strip().splitlines()[-1]
    assert failed.endswith("(exit code 3)") and failed.count("exit code 3") == 1
    missing = rw(env, "run", "--", "/no/such/cmd").stderr.strip().splitlines()[-1]
    assert "None" not in missing and "command not found" in missing
    for ref in ("1", "2", "3"):
        text = rw(env, "show", ref).stdout
        assert "None" not in text and "-15" not in text and "UTC" in text
    assert "ended by:  signal SIGTERM (143)" in rw(env, "show", "1").stdout
    listed = json.loads(rw(env, "list", "--json").stdout)
    assert listed[-1]["signal"] == "SIGTERM"


def test_byte_counts_are_true_while_a_run_is_live(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    go = tmp_path / "go"
    proc = subprocess.Popen([BIN, "run", "--", "sh", "-c", f"echo 12345; while [ ! -e {go} ]; do sleep 0.05; done"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: rw(env, "logs", "1").stdout == "12345\n", "the first line to be stored")
        row = json.loads(rw(env, "list", "--json").stdout)[0]
        assert row["active"] and row["stdout_bytes"] is None and row["stored_bytes"] == 6
        assert "6 B so far" in rw(env, "show", "1").stdout
    finally:
        go.touch()
        proc.communicate(timeout=60)
    row = json.loads(rw(env, "list", "--json").stdout)[0]
    assert not row["active"] and row["stdout_bytes"] == 6


def test_logs_tail(env) -> None:  # type: ignore[no-untyped-def]
    rw(env, "run", "--", "sh", "-c", "seq 1 50000; printf tail-without-newline")
    assert rw(env, "logs", "1", "--tail", "3").stdout == "49999\n50000\ntail-without-newline"
    assert rw(env, "logs", "1", "-n", "0").stdout == ""
    rw(env, "run", "--", "seq", "1", "2")
    assert rw(env, "logs", "2", "--tail", "10").stdout == "1\n2\n"
    assert rw(env, "logs", "2", "--tail", "1").stdout == "2\n"


def test_logs_follow_exits_with_the_runs_exit_code(env, tmp_path) -> None:  # type: ignore[no-untyped-def]
    go = tmp_path / "go"
    proc = subprocess.Popen([BIN, "run", "--", "sh", "-c", f"echo started; while [ ! -e {go} ]; do sleep 0.05; done; exit 7"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: rw(env, "logs", "1").stdout == "started\n", "the run to start")
    follower = subprocess.Popen([BIN, "logs", "1", "--follow"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    go.touch()
    out, _ = follower.communicate(timeout=60)
    proc.communicate(timeout=60)
    assert follower.returncode == 7 and out == b"started\n"
    rw(env, "run", "--", "true")
    assert rw(env, "logs", "2", "-f").returncode == 0


def test_run_interactive_passes_stdin(env) -> None:  # type: ignore[no-untyped-def]
    out = rw(env, "run", "-i", "--", "sh", "-c", "tr a-z A-Z", stdin="hello\nworld\n")
    assert out.returncode == 0 and out.stdout == "HELLO\nWORLD\n"
    without = rw(env, "run", "--", "cat", stdin="ignored\n")
    assert without.returncode == 0 and without.stdout == ""


def test_grace_is_checked(env) -> None:  # type: ignore[no-untyped-def]
    out = rw(env, "run", "--grace", "-1", "--", "true")
    assert out.returncode == 2 and "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) <= 6


def test_second_ctrl_c_stops_at_once_without_grace(env) -> None:  # type: ignore[no-untyped-def]
    # The command ignores SIGTERM; with a grace of 10 minutes only a second Ctrl-C ends it.
    proc = subprocess.Popen([BIN, "run", "--grace", "600", "--", "sh", "-c", "trap '' TERM; echo ready; sleep 600"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
    proc.send_signal(signal.SIGINT)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert b"stopping the run (again to stop it at once)" in first, first
    assert proc.poll() is None  # the command ignores SIGTERM and has 600 s of grace
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert b"SIGINT again: stopping without grace" in err
    assert json.loads(rw(env, "show", "1", "--json").stdout)["status"] == "cancelled"
