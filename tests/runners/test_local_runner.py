"""LocalRunner through the public API: output, errors, timeouts, cancellation, environment."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from runners import CancelToken, MemoryRecorder, RunSpec, Status, get_runner, run
from tests.helpers import pids_with, token, tree_script, wait_for_pids

PY = sys.executable


def test_success_streams_stdout_and_stderr_separately() -> None:
    rec = MemoryRecorder()
    result = run(RunSpec(["sh", "-c", "echo out; echo err >&2"]), rec)
    assert result.status == Status.SUCCESS and result.exit_code == 0
    assert rec.stdout == b"out\n" and rec.stderr == b"err\n"
    assert result.stdout_tail == "out\n" and result.stderr_tail == "err\n"
    assert (result.stdout_bytes, result.stderr_bytes) == (4, 4)
    assert rec.kinds()[0] == "started" and rec.kinds()[-1] == "finished"
    assert result.started_at <= result.finished_at and result.duration >= 0


def test_nonzero_exit_is_failed_with_explained_code() -> None:
    result = run(RunSpec(["sh", "-c", "exit 126"]))
    assert result.status == Status.FAILED and result.exit_code == 126
    assert "not executable" in result.error


def test_output_arrives_live_not_at_the_end() -> None:
    seen: list[float] = []

    class Probe(MemoryRecorder):
        def output(self, stream, data):  # type: ignore[no-untyped-def]
            seen.append(time.monotonic())
            super().output(stream, data)

    t0 = time.monotonic()
    run(RunSpec(["sh", "-c", "echo one; sleep 0.6; echo two"]), Probe())
    assert seen[0] - t0 < 0.4, "first line must arrive before the command ends"
    assert seen[-1] - t0 >= 0.5


def test_bytes_pass_through_unchanged() -> None:
    payload = b"\xff\xfe invalid utf-8 \x00 NUL\rprogress 10%\rprogress 100%\n"
    rec = MemoryRecorder()
    result = run(RunSpec([PY, "-c", f"import sys; sys.stdout.buffer.write({payload!r})"]), rec)
    assert rec.stdout == payload
    assert result.stdout_bytes == len(payload)
    assert "\ufffd" in result.stdout_tail  # decoded for display only


def test_single_100mb_line_is_byte_exact_and_tail_bounded() -> None:
    size = 100 * 1024 * 1024
    total = 0
    last = b""

    class Counter(MemoryRecorder):
        def output(self, stream, data):  # type: ignore[no-untyped-def]
            nonlocal total, last
            total += len(data)
            last = (last + data)[-10:]

    spec = RunSpec(["sh", "-c", f"head -c {size} /dev/zero | tr '\\0' 'x'; echo END"], tail_bytes=1024)
    result = run(spec, Counter())
    assert result.status == Status.SUCCESS
    assert total == size + 4 and last.endswith(b"xxxxxxEND\n")
    assert len(result.stdout_tail) == 1024 and result.stdout_bytes == size + 4


def test_stdin_is_fed() -> None:
    rec = MemoryRecorder()
    data = "line\n" * 50000  # larger than a pipe buffer
    result = run(RunSpec(["wc", "-l"], stdin=data), rec)
    assert result.ok and rec.stdout.strip() == b"50000"


def test_environment_inherits_by_default_and_starts_clean_when_asked() -> None:
    os.environ["RW_TEST_PARENT"] = "parent"
    try:
        rec = MemoryRecorder()
        run(RunSpec(["sh", "-c", 'echo "$RW_TEST_PARENT/$RW_OWN"'], env={"RW_OWN": "own"}), rec)
        assert rec.stdout == b"parent/own\n"
        rec = MemoryRecorder()
        run(RunSpec(["/usr/bin/env"], env={"RW_OWN": "own"}, inherit_env=False), rec)
        names = sorted(line.split(b"=", 1)[0] for line in rec.stdout.splitlines())
        assert names == [b"RUNWRIGHT_RUN_ID", b"RW_OWN"]
    finally:
        del os.environ["RW_TEST_PARENT"]


def test_cwd(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rec = MemoryRecorder()
    run(RunSpec(["pwd"], cwd=str(tmp_path)), rec)
    assert rec.stdout.decode().strip() == str(tmp_path)


@pytest.mark.parametrize(
    ("spec_kwargs", "message"),
    [
        ({"command": ["no-such-command-rw"]}, "command not found: 'no-such-command-rw'"),
        ({"command": ["/etc/passwd"]}, "command not executable: '/etc/passwd'"),
        ({"command": ["true"], "cwd": "/no/such/dir"}, "working directory '/no/such/dir' does not exist"),
        ({"command": ["true"], "cwd": "/etc/passwd"}, "is not a directory"),
    ],
)
def test_cannot_run_is_error_not_exception(spec_kwargs, message) -> None:  # type: ignore[no-untyped-def]
    rec = MemoryRecorder()
    result = run(RunSpec(**spec_kwargs), rec)
    assert result.status == Status.ERROR
    assert message in result.error
    assert result.started_at is None
    assert rec.kinds() == ["finished"]


def test_exit_by_signal_is_reported() -> None:
    result = run(RunSpec(["sh", "-c", "kill -KILL $$"]))
    assert result.status == Status.FAILED
    assert result.exit_code == -9 and result.signal == "SIGKILL"
    assert "SIGKILL" in result.error


def test_timeout_kills_the_whole_tree() -> None:
    tok = token()
    rec = MemoryRecorder()
    t0 = time.monotonic()
    result = run(RunSpec(["sh", "-c", tree_script(tok)], timeout=1.0, grace_period=0.5), rec)
    elapsed = time.monotonic() - t0
    assert result.status == Status.TIMEOUT
    assert "timed out after 1s" in result.error
    assert elapsed < 5
    assert rec.stdout == b"started\n"
    time.sleep(0.2)
    assert pids_with(tok) == [], "a process of the run survived the timeout"


def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored() -> None:
    tok = token()
    script = f"trap '' TERM; sleep {tok} & trap '' TERM; while :; do sleep 0.05; done"
    t0 = time.monotonic()
    result = run(RunSpec(["sh", "-c", script], timeout=0.5, grace_period=0.7))
    assert result.status == Status.TIMEOUT and "SIGKILL" in result.error
    assert 1.1 < time.monotonic() - t0 < 4
    time.sleep(0.2)
    assert pids_with(tok) == []


def test_cancel_from_another_thread_kills_the_tree() -> None:
    tok = token()
    cancel = CancelToken()
    threading.Timer(0.0, lambda: (wait_for_pids(tok, 5), cancel.cancel("user asked"))).start()
    t0 = time.monotonic()
    result = run(RunSpec(["sh", "-c", tree_script(tok)], grace_period=0.5), cancel=cancel)
    assert result.status == Status.CANCELLED
    assert "user asked" in result.error
    assert time.monotonic() - t0 < 5
    time.sleep(0.2)
    assert pids_with(tok) == []


def test_cancel_before_start_never_starts() -> None:
    cancel = CancelToken()
    cancel.cancel()
    rec = MemoryRecorder()
    result = run(RunSpec(["sh", "-c", "echo should-not-run"]), rec, cancel)
    assert result.status == Status.CANCELLED and result.started_at is None
    assert rec.stdout == b""


def test_background_children_do_not_outlive_a_normal_exit() -> None:
    tok = token()
    t0 = time.monotonic()
    result = run(RunSpec(["sh", "-c", f"sleep {tok} & echo done"]))
    assert result.ok and result.stdout_tail == "done\n"
    assert time.monotonic() - t0 < 3, "a background child holding stdout must not hold the run"
    time.sleep(0.2)
    assert pids_with(tok) == []


def test_keep_background_leaves_a_redirected_daemon_running() -> None:
    tok = token()
    result = run(RunSpec(["sh", "-c", f"sleep {tok} >/dev/null 2>&1 &"], options={"keep_background": True}))
    try:
        assert result.ok
        assert len(wait_for_pids(tok, 1)) == 1
    finally:
        for pid in pids_with(tok):
            os.kill(pid, 9)


def test_keep_background_does_not_wait_for_or_kill_a_daemon_holding_the_pipes() -> None:
    # Regression: the drain timeout's sweep killed the daemon keep_background promises to keep.
    tok = token()
    t0 = time.monotonic()
    result = run(RunSpec(["sh", "-c", f"sleep {tok} & echo parent-done"], options={"keep_background": True}))
    try:
        assert result.ok and result.stdout_tail == "parent-done\n"
        assert time.monotonic() - t0 < 2
        assert len(pids_with(tok)) == 1
    finally:
        for pid in pids_with(tok):
            os.kill(pid, 9)


def test_shell_string_needs_shell_true() -> None:
    rec = MemoryRecorder()
    result = run(RunSpec("echo $((1+2)) | tr 3 x", shell=True), rec)
    assert result.ok and rec.stdout == b"x\n"


def test_unknown_option_is_an_error_result_naming_it() -> None:
    result = get_runner("local").run(RunSpec(["true"], options={"colour": "red"}))
    assert result.status == Status.ERROR
    assert "options.colour" in result.error and "keep_background" in result.error


def test_secrets_are_masked_in_output_even_across_chunks() -> None:
    secret = "hunter2-very-secret"
    # Print the secret one byte at a time so it crosses many chunk boundaries.
    script = (
        "import sys,time\nfor c in sys.argv[1]:\n"
        "    sys.stdout.write(c); sys.stdout.flush(); time.sleep(0.002)\nprint()"
    )
    rec = MemoryRecorder()
    result = run(RunSpec([PY, "-c", script, f"pw={secret};"], secrets=[secret], tail_bytes=100), rec)
    assert secret.encode() not in rec.stdout and rec.stdout == b"pw=***;\n"
    assert secret not in result.stdout_tail
    env_secret = "tok-abcdef-123456"
    rec = MemoryRecorder()
    result = run(RunSpec(["sh", "-c", 'echo "$API_TOKEN"; exit 3'], env={"API_TOKEN": env_secret}), rec)
    assert rec.stdout == b"***\n"
    assert env_secret not in result.to_json()


def test_tail_shows_nul_as_a_visible_symbol() -> None:
    # Regression: a NUL in the tail made PostgreSQL refuse the result JSON.
    result = run(RunSpec(["printf", "a\\000b"]))
    assert result.stdout_tail == "a\u2400b" and result.stdout_bytes == 3
