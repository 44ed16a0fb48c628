"""LocalRunner: a command as a local subprocess, in its own session and process group.

Output is read from both pipes in one selector loop, in chunks, and forwarded as it
arrives, so memory stays flat whatever the output size. The same loop waits on the process
(a pidfd), the deadline and the cancel token, so a stop is noticed at once, with no
polling and no extra threads.

No process of a run outlives it: at the end, and on timeout or cancel, the whole process
group is signalled before the leader is reaped (so the group id cannot be reused), and on a
stop, processes that left the group with ``setsid`` are found by the run's id in their
environment (``RUNWRIGHT_RUN_ID``, the way Jenkins finds a build's processes) and killed.

Its handle is the leader's pid with its start time (from ``/proc``), the boot id and the
host and its pid namespace, so ``probe`` and ``stop_handle`` never mistake a reused pid, or a
pid of another container sharing the hostname, for the run. A local
process dies with... nothing: it outlives a dead worker, so the policy is STOP, and
``sweep`` kills processes whose execution (``RUNWRIGHT_EXECUTION_ID``) is no longer active.
"""

from __future__ import annotations

import errno
import fcntl
import os
import selectors
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Mapping
from typing import Any

from runwright.runners.base import Exit, RunContext, Runner, RunnerError
from runwright.runners.environment import base_environment
from runwright.runners.events import Stream
from runwright.runners.exitcodes import describe_exit, signal_name
from runwright.runners.hooks import Liveness, OnWorkerLost, Stop
from runwright.runners.options import Option
from runwright.runners.process_identity import env_value, environments, in_this_place, place

RUN_ID_ENV = "RUNWRIGHT_RUN_ID"
#: The recorded execution, so a worker's reaper can find the processes of a lost run.
EXECUTION_ID_ENV = "RUNWRIGHT_EXECUTION_ID"
PIPE_SIZE = 1 << 20
READ_SIZE = 64 * 1024
#: The largest ``read_size`` option: each read allocates a buffer of that size.
MAX_READ_SIZE = 16 * 1024 * 1024
#: The longest single wait of the loop (epoll takes at most about 24 days); a longer
#: deadline is simply waited for in several turns.
MAX_WAIT = 3600.0
MAX_READS_PER_WAKEUP = 64
#: After the leader exits, how long to keep reading pipes still held open by processes
#: outside its group before giving up on them.
DRAIN_TIMEOUT = 2.0
#: After the leader exits and its group is killed, how long the group's processes get to
#: die (and release the pipes) before whatever still holds them is taken for an escapee.
ESCAPE_GRACE = 0.1


class LocalRunner(Runner):
    """A command as a local subprocess in its own process group."""

    name = "local"
    options = (
        Option("keep_background", bool, default=False,
               help="Leave processes the command started in the background running when it exits."),
        Option("read_size", int, default=READ_SIZE, minimum=1, maximum=MAX_READ_SIZE,
               help="Bytes read from a pipe at a time."),
        Option("die_with_supervisor", bool, default=False,
               help="SIGKILL the command when the process running it dies (Linux parent-death signal, "
                    "set through util-linux's setpriv); the runwright CLI sets it."),
    )
    on_worker_lost = OnWorkerLost.STOP
    #: The selector loop in ``stream`` waits on the cancel token and the deadline itself.
    watched = False
    inherits_environment = True

    # -- start ---------------------------------------------------------------------------
    def start(self, ctx: RunContext) -> None:
        spec = ctx.spec
        if spec.cwd is not None:
            try:
                is_dir = stat.S_ISDIR(os.stat(spec.cwd).st_mode)
            except FileNotFoundError:
                raise RunnerError(f"working directory {spec.cwd!r} does not exist") from None
            except OSError as exc:  # a parent it may not search, a loop of links, ...
                raise RunnerError(f"working directory {spec.cwd!r} cannot be entered: "
                                  f"{os.strerror(exc.errno) if exc.errno else exc}") from None
            if not is_dir:
                raise RunnerError(f"working directory {spec.cwd!r} is not a directory")
        # Bytes keys and values: the parent's environment copies without a decode and an
        # encode of every variable, a third of the per-run cost otherwise. Under a worker
        # only an allow-list of it is passed on (runners/environment.py).
        env = base_environment(spec.inherit_env)
        env.update((os.fsencode(k), os.fsencode(v)) for k, v in spec.env.items())
        env[RUN_ID_ENV.encode()] = ctx.run_id.encode()
        if ctx.execution_id:
            env[EXECUTION_ID_ENV.encode()] = ctx.execution_id.encode()
        argv = spec.argv
        if ctx.options["die_with_supervisor"]:
            argv = _dying_with_supervisor(argv, spec.cwd, env)
        # Every process of the run inherits the write end of this pipe (unless it closes
        # its descriptors): the read end reports end-of-file only when none of them is left,
        # so the end of a run knows at no cost whether something of it lives on.
        holders_r, holders_w = os.pipe()
        # The process's start time is known to lie between these two readings of the boot
        # clock; /proc/PID/stat read right after the fork costs ten times a run's overhead.
        before_fork = time.clock_gettime(time.CLOCK_BOOTTIME)
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if spec.stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=spec.cwd,
                start_new_session=True,
                bufsize=0,
                pass_fds=(holders_w,),
            )
        except OSError as exc:
            os.close(holders_r)
            raise _start_error(exc, argv[0], spec.cwd) from None
        finally:
            os.close(holders_w)
        os.set_blocking(holders_r, False)
        ctx.state.update(proc=proc, pidfd=os.pidfd_open(proc.pid), holders=holders_r)
        after_fork = time.clock_gettime(time.CLOCK_BOOTTIME)
        ctx.set_handle({"pid": proc.pid, "start_time": [int(before_fork * CLK_TCK), int(after_fork * CLK_TCK) + 1],
                        **place(), "run_id": ctx.run_id})
        for pipe in (proc.stdout, proc.stderr):
            fd = pipe.fileno()  # type: ignore[union-attr]
            os.set_blocking(fd, False)
            try:
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:
                pass  # a smaller pipe only costs throughput

    # -- stream: one loop for output, exit, deadline and cancel ------------------------------
    def stream(self, ctx: RunContext) -> None:
        st = ctx.state
        proc: subprocess.Popen[bytes] = st["proc"]
        ctx.metadata["pid"] = proc.pid
        keep_background = bool(ctx.options["keep_background"])
        read_size = int(ctx.options["read_size"])
        sel = selectors.DefaultSelector()
        st["selector"] = sel
        assert proc.stdout is not None and proc.stderr is not None
        sel.register(proc.stdout.fileno(), selectors.EVENT_READ, "stdout")
        sel.register(proc.stderr.fileno(), selectors.EVENT_READ, "stderr")
        sel.register(st["pidfd"], selectors.EVENT_READ, "exit")
        sel.register(ctx.cancel.fileno(), selectors.EVENT_READ, "cancel")
        stdin_data = ctx.spec.stdin.encode() if isinstance(ctx.spec.stdin, str) else ctx.spec.stdin
        if stdin_data is not None and proc.stdin is not None:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin.fileno(), selectors.EVENT_WRITE, "stdin")
        stdin_view = memoryview(stdin_data or b"")

        sel.register(st["holders"], selectors.EVENT_READ, "holders")
        holders = True  # some process of the run still holds the holders' pipe

        open_pipes = 2
        exited = False
        swept = False  # the run's escaped processes were looked for after the leader's exit
        stop_detail = ""
        drain_until: float | None = None
        kill_at: float | None = None  # set once a stop has sent SIGTERM
        cancel_pending = False  # a cancel was asked and not yet acted on when the exit was seen
        while open_pipes or not exited or holders:
            # The hot path (no deadline, nothing stopping) reads no clock and checks nothing.
            timed = ctx.deadline is not None or kill_at is not None or drain_until is not None
            timeout = None
            if timed:
                now = time.monotonic()
                # Once the leader has exited the work has ended: no deadline or cancel
                # applies any more, only the wait for what it left behind.
                ends = [] if exited else [ctx.deadline if kill_at is None else kill_at]
                waits = [t - now for t in (*ends, drain_until) if t is not None and t != float("inf")]
                timeout = min(max(0.0, min(waits)), MAX_WAIT) if waits else None
            for key, _ in sel.select(timeout):
                what = key.data
                if what == "stdout" or what == "stderr":
                    if not _drain(ctx, key.fd, what, read_size):
                        sel.unregister(key.fd)
                        open_pipes -= 1
                elif what == "exit":
                    sel.unregister(key.fd)
                    exited = True
                    cancel_pending = kill_at is None and ctx.cancel.cancelled
                    if not keep_background or kill_at is not None:
                        _killpg(proc.pid, signal.SIGKILL)
                        # What still holds the pipes or the holders' pipe a moment after the
                        # group was killed left the group (setsid): it is found and killed.
                        drain_until = time.monotonic() + ESCAPE_GRACE
                    else:
                        sel.unregister(st["holders"])
                        holders = False
                        if open_pipes:
                            drain_until = time.monotonic() + 0.05
                elif what == "holders":
                    sel.unregister(key.fd)
                    holders = False
                elif what == "stdin":
                    try:
                        sent = os.write(key.fd, stdin_view[:65536])
                    except (BrokenPipeError, OSError):
                        sent = len(stdin_view)
                    stdin_view = stdin_view[sent:]
                    if not stdin_view:
                        sel.unregister(key.fd)
                        proc.stdin.close()  # type: ignore[union-attr]
                elif what == "cancel":
                    sel.unregister(key.fd)
                    timed = True
            if not timed:
                continue
            now = time.monotonic()
            if exited:
                pass
            elif kill_at is None and ctx.check_stop() is not None:
                _killpg(proc.pid, signal.SIGTERM)
                kill_at = now + ctx.spec.grace_period
                stop_detail = f"sent SIGTERM to the process group, grace {ctx.spec.grace_period:g}s"
            elif kill_at is not None and now >= kill_at:
                stop_detail += ", then SIGKILL"
                self._kill_all(ctx)
                kill_at = float("inf")
                drain_until = drain_until or now + DRAIN_TIMEOUT
            if drain_until is not None and time.monotonic() >= drain_until and (open_pipes or holders):
                if keep_background and kill_at is None:
                    break  # the kept processes may hold the pipes as long as they like
                if swept:
                    break  # killed, yet something holds on (a process in another pid namespace?)
                swept = True
                killed = _sweep_escaped(ctx.run_id)
                if killed and kill_at is None:
                    ctx.say(f"killed {killed} process(es) of this run that had left its process group")
                drain_until = time.monotonic() + DRAIN_TIMEOUT
        if cancel_pending and proc.wait() < 0 and ctx.check_stop() is not None:
            # The cancel and a killing signal came together (a second Ctrl-C kills through the
            # handle before this loop has acted on the first): the run was stopped, not failed.
            ctx.record_stop(Stop(True, f"the process was killed ({signal_name(-proc.returncode)}) "
                                       "before the stop had sent SIGTERM"))
        if kill_at is not None:
            # A stop: also catch whatever escaped the group with setsid.
            if not swept:
                _sweep_escaped(ctx.run_id)
            proc.wait()  # the leader is reaped: the stop is confirmed
            ctx.record_stop(Stop(True, stop_detail))

    def wait(self, ctx: RunContext) -> Exit:
        returncode = ctx.state["proc"].wait()
        return Exit(exit_code=returncode, signal=signal_name(-returncode) if returncode < 0 else None)

    def _kill_all(self, ctx: RunContext) -> None:
        proc = ctx.state["proc"]
        _killpg(proc.pid, signal.SIGKILL)
        _sweep_escaped(ctx.run_id)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        proc: subprocess.Popen[bytes] | None = ctx.state.get("proc")
        if proc is None:
            return Stop(True, "no process was started")
        if proc.poll() is not None:
            self._kill_all(ctx)  # whatever the leader left in its group
            return Stop(True, "the process had already exited")
        _killpg(proc.pid, signal.SIGTERM)
        if _wait_exit(ctx.state.get("pidfd"), grace):
            self._kill_all(ctx)
            proc.wait()
            return Stop(True, "sent SIGTERM to the process group")
        self._kill_all(ctx)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return Stop(False, f"sent SIGTERM, then SIGKILL after {grace:g}s; process {proc.pid} did not exit")
        return Stop(True, f"sent SIGTERM, then SIGKILL after {grace:g}s")

    def cleanup(self, ctx: RunContext) -> None:
        st = ctx.state
        proc = st.get("proc")
        if proc is not None:
            if proc.returncode is None:
                self._kill_all(ctx)
                proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        if "selector" in st:
            st.pop("selector").close()
        for fd in ("pidfd", "holders"):
            if fd in st:
                os.close(st.pop(fd))

    # -- hooks: work known only by its handle, and what crashed workers left ---------------
    @classmethod
    def probe(cls, handle: Mapping[str, Any]) -> Liveness:
        """ALIVE while the handle's process runs (same pid, same start time); UNKNOWN for a
        process this one cannot see by its pid: another host, another boot, another pid
        namespace (a container sharing this hostname), or a handle that does not say."""
        if not in_this_place(handle):
            return Liveness.UNKNOWN
        return Liveness.ALIVE if _same_process(handle) else Liveness.GONE

    @classmethod
    def stop_handle(cls, handle: Mapping[str, Any], grace: float) -> Stop:
        """SIGTERM the handle's process group, SIGKILL it after ``grace`` seconds, and kill
        the run's processes that left the group (by ``RUNWRIGHT_RUN_ID``)."""
        liveness = cls.probe(handle)
        if liveness is Liveness.UNKNOWN:
            return Stop(False, f"process {handle.get('pid')} of host {handle.get('host')!r} is not in this "
                               "machine's pid namespace: it cannot be stopped from here")
        run_id = str(handle.get("run_id") or "")
        if liveness is Liveness.GONE:
            killed = _sweep_escaped(run_id) if run_id else 0
            return Stop(True, "the process had already exited" + (f"; killed {killed} it left" if killed else ""))
        pid = int(handle["pid"])
        try:
            pidfd: int | None = os.pidfd_open(pid)
        except OSError:
            pidfd = None
        try:
            if not _same_process(handle):  # checked again with the pidfd held: the pid is not reused under us
                return Stop(True, "the process had already exited")
            _killpg(pid, signal.SIGTERM)
            if not _wait_exit(pidfd, grace):
                _killpg(pid, signal.SIGKILL)
                _wait_exit(pidfd, 5.0)
            else:
                _killpg(pid, signal.SIGKILL)  # the rest of the group
        finally:
            if pidfd is not None:
                os.close(pidfd)
        if run_id:
            _sweep_escaped(run_id)
        if _same_process(handle):
            return Stop(False, f"process {pid} survived SIGKILL")
        return Stop(True, f"sent SIGTERM to process group {pid}, SIGKILL after {grace:g}s")

    @classmethod
    def sweep(cls, is_active: Callable[[str], bool]) -> list[str]:
        """Kill this host's processes whose execution (``RUNWRIGHT_EXECUTION_ID``) is not
        active; returns ``"pid N (execution TAG)"`` for each."""
        owners: dict[str, list[int]] = {}
        for pid, env in environments():
            tag = env_value(env, EXECUTION_ID_ENV)
            if tag is not None:
                owners.setdefault(tag, []).append(pid)
        removed = []
        for tag, pids in owners.items():
            if is_active(tag):
                continue
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    continue
                removed.append(f"pid {pid} (execution {tag})")
        return removed


def _dying_with_supervisor(argv: list[str], cwd: str | None, env: Mapping[bytes, bytes]) -> list[str]:
    """``argv`` started through ``setpriv --pdeathsig KILL``: the command gets SIGKILL when
    the thread that started it dies (the CLI killed, its terminal gone), instead of running
    on unsupervised. The command is looked up first, so a missing one is still reported as
    not found, not as setpriv's failure."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RunnerError("option die_with_supervisor needs setpriv (util-linux), which is not installed")
    path = env.get(b"PATH", os.defpath.encode()).decode(errors="replace")
    command = argv[0]
    if os.sep in command and cwd is not None:
        command = os.path.join(cwd, command)
    found = shutil.which(command, mode=os.F_OK, path=path)
    if found is None:
        raise RunnerError(f"command not found: {argv[0]!r} ({describe_exit(127)})")
    if not os.access(found, os.X_OK) or os.path.isdir(found):
        raise RunnerError(f"command not executable: {argv[0]!r} ({describe_exit(126)})")
    return [setpriv, "--pdeathsig", "KILL", "--", *argv]


def _start_error(exc: OSError, command: str, cwd: str | None) -> RunnerError:
    """What a failed start means, in words: the working directory (the child's ``chdir``
    failed: Python names the directory) or the command (not found, not executable)."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    if cwd is not None and exc.filename == cwd:
        return RunnerError(f"working directory {cwd!r} cannot be entered: {reason}")
    if isinstance(exc, FileNotFoundError):
        return RunnerError(f"command not found: {command!r} ({describe_exit(127)})")
    if isinstance(exc, PermissionError):
        return RunnerError(f"command not executable: {command!r} ({describe_exit(126)})")
    return RunnerError(f"could not start {command!r}: {reason}")


def _drain(ctx: RunContext, fd: int, stream: Stream, read_size: int) -> bool:
    """Read what a ready pipe holds, a bounded number of reads per wake-up so the loop
    still sees the deadline and the other pipe. False at end of file."""
    read, emit = os.read, ctx.emit
    for _ in range(MAX_READS_PER_WAKEUP):
        try:
            data = read(fd, read_size)
        except BlockingIOError:
            return True
        except OSError:
            return False
        if not data:
            return False
        emit(stream, data)
    return True


def _killpg(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except OSError as exc:
        if exc.errno not in (errno.ESRCH, errno.EPERM):
            raise


def _sweep_escaped(run_id: str) -> int:
    """Kill every process whose environment carries this run's id; returns how many."""
    killed = 0
    for _ in range(3):  # a dying parent may fork once more; look again until none is left
        found = 0
        for pid, env in environments():
            if env_value(env, RUN_ID_ENV) != run_id:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
                found += 1
            except OSError:
                continue
        killed += found
        if not found:
            break
    return killed


def _wait_exit(pidfd: int | None, timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for the process behind ``pidfd`` to exit."""
    if pidfd is None:
        return False
    sel = selectors.DefaultSelector()
    try:
        sel.register(pidfd, selectors.EVENT_READ)
        return bool(sel.select(timeout))
    finally:
        sel.close()


#: Clock ticks per second, the unit of a process's start time in ``/proc/PID/stat``.
CLK_TCK = os.sysconf("SC_CLK_TCK")


def _same_process(handle: Mapping[str, Any]) -> bool:
    """The handle's process is running (not a zombie) and is the same one: its start time
    (``/proc/PID/stat`` field 22, clock ticks since boot) lies in the handle's
    ``start_time`` range ``[earliest, latest]``, so a reused pid is never taken for it."""
    try:
        pid = int(handle["pid"])
        earliest, latest = (int(t) for t in handle["start_time"])
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except (OSError, KeyError, TypeError, ValueError):
        return False
    return fields[0] not in (b"Z", b"X") and earliest <= int(fields[19]) <= latest

