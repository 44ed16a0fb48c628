"""LocalRunner through the public API: output, errors, timeouts, cancellation, environment."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from runwright.runners import CancelToken, MemoryRecorder, RunSpec, Status, get_runner, run
from tests.helpers import pids_with, token, tree_script, wait_for_pids

PY = sys.executable


def test_success_streams_stdout_and_stderr_separately() -> None:
    rec = MemoryRecorder()
    result = run(RunSpec(["sh", "-c", "echo out; echo err >&2"]), rec)
    assert result.status == Status.SUCCESS and result.exit_code == 0
    assert rec.stdout == b"out\n" and rec.stderr == b"err\n"
    assert result.stdout_tail == "out\n" and result.stderr_tail == "err\n"
    assert (result.stdout_bytes, result.stderr_bytes) == (4, 4)
    assert rec.kinds()[:2] == ["handle", "started"] and rec.kinds()[-1] == "finished"
    assert result.started_at <= result.finished_at and result.duration >= 0


def test_nonzero_exit_is_failed_with_explained_code() -> None:
    result = run(RunSpec(["sh", "-c", "exit 126"]))
    assert result.status == Status.FAILED and result.exit_code == 126
    assert "not executable" in result.error


def test_output_arrives_live_not_at_the_end(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # The command waits for a gate the recorder opens when the first line reaches it: the
    # run only ends if output is forwarded while the command is still running.
    gate = tmp_path / "gate"

    class Probe(MemoryRecorder):
        def output(self, stream, data):  # type: ignore[no-untyped-def]
            gate.touch()
            super().output(stream, data)

    rec = Probe()
    script = f"echo one; while [ ! -e {gate} ]; do sleep 0.01; done; echo two"
    result = run(RunSpec(["sh", "-c", script], timeout=120), rec)
    assert result.status == Status.SUCCESS, result.error
    assert rec.stdout == b"one\ntwo\n"


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
    result = run(RunSpec(["sh", "-c", tree_script(tok)], timeout=1.0, grace_period=0.5), rec)
    assert result.status == Status.TIMEOUT
    assert "timed out after 1s" in result.error
    assert rec.stdout == b"started\n"
    assert pids_with(tok) == [], "a process of the run survived the timeout"


def test_timeout_escalates_to_sigkill_when_sigterm_is_ignored() -> None:
    tok = token()
    script = f"trap '' TERM; sleep {tok} & trap '' TERM; while :; do sleep 0.05; done"
    result = run(RunSpec(["sh", "-c", script], timeout=0.5, grace_period=0.7))
    assert result.status == Status.TIMEOUT and "SIGKILL" in result.error
    # The shell ignored SIGTERM: what ended it was the SIGKILL after the grace period.
    assert result.signal == "SIGKILL" and result.exit_code == -9
    assert pids_with(tok) == []


def test_cancel_from_another_thread_kills_the_tree() -> None:
    tok = token()
    cancel = CancelToken()
    threading.Timer(0.0, lambda: (wait_for_pids(tok, 5), cancel.cancel("user asked"))).start()
    result = run(RunSpec(["sh", "-c", tree_script(tok)], grace_period=0.5, timeout=120), cancel=cancel)
    assert result.status == Status.CANCELLED
    assert "user asked" in result.error
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
    # The child holds stdout for 1000 s: waiting for it would end the run as a timeout.
    result = run(RunSpec(["sh", "-c", f"sleep {tok} & echo done"], timeout=60))
    assert result.status == Status.SUCCESS, "a background child holding stdout must not hold the run"
    assert result.stdout_tail == "done\n"
    assert pids_with(tok) == []


@pytest.mark.parametrize("how", ["holding stdout", "output redirected", "double fork"])
def test_no_process_that_left_the_group_outlives_a_successful_run(how: str) -> None:
    # Regression: a setsid daemon with redirected output survived a successful run, and one
    # holding stdout made a run that exited 0 end as "timeout" at its deadline.
    tok = token()
    script = {
        "holding stdout": f"setsid sleep {tok} & echo done",
        "output redirected": f"setsid sleep {tok} >/dev/null 2>&1 < /dev/null & echo done",
        "double fork": f"setsid sh -c 'sleep {tok} >/dev/null 2>&1 & exit 0'; echo done",
    }[how]
    result = run(RunSpec(["sh", "-c", script], timeout=60))
    assert result.status == Status.SUCCESS and result.exit_code == 0, result.error
    assert result.stdout_tail.startswith("done\n")
    assert pids_with(tok) == [], "a process of the run outlived it"


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
    result = run(RunSpec(["sh", "-c", f"sleep {tok} & echo parent-done"], options={"keep_background": True},
                         timeout=60))
    try:
        assert result.status == Status.SUCCESS and result.stdout_tail == "parent-done\n"
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


def test_handle_names_the_process_and_never_a_reused_pid() -> None:
    from runwright.runners import Liveness
    from runwright.runners.local import LocalRunner

    handles: list[dict] = []

    class Spy(MemoryRecorder):
        def handle(self, handle):  # type: ignore[no-untyped-def]
            handles.append(dict(handle))
            super().handle(handle)

    cancel = CancelToken()
    rec = Spy()
    done: list = []
    t = threading.Thread(target=lambda: done.append(run(RunSpec(["sh", "-c", "echo up; exec sleep 300"]), rec, cancel)))
    t.start()
    try:
        deadline = time.monotonic() + 10
        while b"up" not in rec.stdout and time.monotonic() < deadline:
            time.sleep(0.01)
        handle = handles[0]
        assert LocalRunner.probe(handle) is Liveness.ALIVE
        _, latest = handle["start_time"]
        # The same pid with another start time: a process that reused the pid of a run long gone.
        reused = {**handle, "start_time": [latest + 1, latest + 100], "run_id": "a-run-long-gone"}
        assert LocalRunner.probe(reused) is Liveness.GONE
        assert LocalRunner.stop_handle(reused, 0).confirmed and LocalRunner.probe(handle) is Liveness.ALIVE
        assert LocalRunner.probe({**handle, "host": "another-host"}) is Liveness.UNKNOWN
    finally:
        cancel.cancel("test done")
        t.join(30)
    assert done[0].status == Status.CANCELLED and LocalRunner.probe(handle) is Liveness.GONE


def test_a_run_that_exited_0_is_a_success_even_if_its_deadline_passes_while_a_child_holds_stdout() -> None:
    # Regression: exit code 0, then a setsid child kept stdout open past the deadline, and the
    # run was recorded as "timeout" with exit code 0. Once the command has exited, the
    # deadline no longer applies: the status says how the work ended.
    tok = token()
    result = run(RunSpec(["sh", "-c", f"setsid sleep {tok} & echo done"], timeout=1.5))
    assert result.status == Status.SUCCESS and result.exit_code == 0, result.error
    assert pids_with(tok) == []


def test_a_cancel_after_the_command_exited_does_not_change_its_status() -> None:
    cancel = CancelToken()

    class CancelAtExit(MemoryRecorder):
        def output(self, stream, data):  # type: ignore[no-untyped-def]
            super().output(stream, data)
            if b"bye" in data:
                cancel.cancel("too late")

    # "bye" is the last thing the command does; a setsid child keeps stdout open after it.
    result = run(RunSpec(["sh", "-c", f"setsid sleep {token()} & echo bye"], timeout=60), CancelAtExit(), cancel)
    assert result.status in (Status.SUCCESS, Status.CANCELLED)
    if result.status == Status.CANCELLED:  # the cancel won the race with the exit: then it was a real stop
        assert result.metadata.get("stop_confirmed") is True
    else:
        assert result.exit_code == 0


def test_a_kill_through_the_handle_that_beats_the_pending_cancel_is_a_cancel() -> None:
    # Regression (CI): the CLI's second Ctrl-C cancels and then kills through the handle at
    # once; when the kill's exit and the cancel reached the runner's loop together, the run
    # was recorded as "failed, signal SIGKILL" instead of cancelled.
    from runwright.runners import get_runner_class

    cancel = CancelToken()
    handle: dict[str, object] = {}

    class DoubleCtrlC(MemoryRecorder):
        def handle(self, value):  # type: ignore[no-untyped-def]
            handle.update(value)
            super().handle(value)

        def output(self, stream, data):  # type: ignore[no-untyped-def]
            super().output(stream, data)
            if b"ready" in data and not cancel.cancelled:
                cancel.cancel("interrupted (SIGINT)")
                # Called from the runner's own loop: it sees the exit and the cancel together.
                assert get_runner_class("local").stop_handle(handle, 0).confirmed

    # No timeout: with a deadline the loop checks the cancel right after the output, before it
    # can see the exit (the CLI race had none).
    spec = RunSpec(["sh", "-c", "trap '' TERM; echo ready; sleep 600"], grace_period=600)
    result = run(spec, DoubleCtrlC(), cancel)
    assert result.status == Status.CANCELLED, (result.status, result.error)
    assert result.signal == "SIGKILL" and result.metadata.get("stop_confirmed") is True
    assert "interrupted (SIGINT)" in (result.error or "")


def test_a_working_directory_it_cannot_enter_is_reported_as_such(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Regression: a cwd the worker may not enter was reported as "command not executable".
    # Root enters anything, so the run is made in a child process whose root has lost the
    # capabilities that bypass file permissions (as a worker's unprivileged user would).
    import ctypes
    import subprocess

    locked = tmp_path / "locked"
    locked.mkdir(mode=0o000)
    (tmp_path / "closed").mkdir()
    inner = tmp_path / "closed" / "inner"
    inner.mkdir()
    (tmp_path / "closed").chmod(0o000)  # its parent may not be searched: the cwd cannot even be looked at
    script = (
        "from runwright.runners import RunSpec, run\n"
        f"for cwd in ({str(locked)!r}, {str(inner)!r}):\n"
        "    r = run(RunSpec(['true'], cwd=cwd))\n"
        "    print(r.status); print(r.error)\n"
    )

    def without_permission_bypass() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, out of the bounding set
            libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP

    try:
        if os.geteuid() == 0:
            done = subprocess.run([PY, "-c", script], preexec_fn=without_permission_bypass, capture_output=True,
                                  text=True, timeout=120)
        else:
            done = subprocess.run([PY, "-c", script], capture_output=True, text=True, timeout=120)
    finally:  # so the temporary directory can be removed
        (tmp_path / "closed").chmod(0o755)
        locked.chmod(0o755)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for (status, error), cwd in zip((lines[0:2], lines[2:4]), (locked, inner), strict=True):
        assert status == "error"
        assert error == f"working directory {str(cwd)!r} cannot be entered: Permission denied"


SUPERVISOR = r"""
import os
from runwright.runners import MemoryRecorder, RunSpec, run

class Say(MemoryRecorder):
    def output(self, stream, data):
        super().output(stream, data)
        print("started", flush=True)

run(RunSpec(["sh", "-c", os.environ["SCRIPT"]], options={"die_with_supervisor": os.environ["DIE"] == "1"}), Say())
"""


@pytest.mark.parametrize("die", [True, False])
def test_die_with_supervisor_kills_the_command_when_its_supervisor_dies(die: bool) -> None:
    import signal
    import subprocess

    tok = token()
    env = {**os.environ, "SCRIPT": f"echo up; exec sleep {tok}", "DIE": "1" if die else "0"}
    supervisor = subprocess.Popen([PY, "-c", SUPERVISOR], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert supervisor.stdout is not None and supervisor.stdout.readline() == "started\n"
        assert len(wait_for_pids(tok, 1)) == 1
        supervisor.send_signal(signal.SIGKILL)
        supervisor.wait(timeout=60)
        if die:
            deadline = time.monotonic() + 60
            while pids_with(tok) and time.monotonic() < deadline:
                time.sleep(0.02)
            assert pids_with(tok) == [], "the command outlived its dead supervisor"
        else:  # without it the command runs on (left to the reaper or the next runwright command)
            assert len(pids_with(tok)) == 1
    finally:
        for pid in pids_with(tok):
            os.kill(pid, 9)
