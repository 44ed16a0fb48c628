"""LocalRunner: a command as a local subprocess, in its own session and process group.

Output is read from both pipes in one selector loop, in chunks, and forwarded as it
arrives, so memory stays flat whatever the output size. The same loop waits on the process
(a pidfd), the deadline and the cancel token, so a stop is noticed at once, with no
polling and no extra threads.

No process of a run outlives it: at the end, and on timeout or cancel, the whole process
group is signalled before the leader is reaped (so the group id cannot be reused), and on a
stop, processes that left the group with ``setsid`` are found by the run's id in their
environment (``RUNWRIGHT_RUN_ID``, the way Jenkins finds a build's processes) and killed.
"""

from __future__ import annotations

import errno
import fcntl
import os
import selectors
import signal
import subprocess
import time
from typing import Any, ClassVar

from runners.base import Exit, RunContext, Runner, RunnerError
from runners.events import Stream
from runners.exitcodes import describe_exit, signal_name
from runners.spec import RunSpec, SpecError

RUN_ID_ENV = "RUNWRIGHT_RUN_ID"
#: The recorded execution, so a worker's reaper can find the processes of a lost run.
EXECUTION_ID_ENV = "RUNWRIGHT_EXECUTION_ID"
PIPE_SIZE = 1 << 20
READ_SIZE = 64 * 1024
MAX_READS_PER_WAKEUP = 64
#: After the leader exits, how long to keep reading pipes still held open by processes
#: outside its group before giving up on them.
DRAIN_TIMEOUT = 2.0


class LocalRunner(Runner):
    name = "local"
    option_types: ClassVar = {"keep_background": bool, "read_size": int}

    def validate(self, spec: RunSpec) -> None:
        super().validate(spec)
        if spec.options.get("read_size", READ_SIZE) <= 0:
            raise SpecError("options.read_size", "must be a positive number of bytes")

    # -- start ---------------------------------------------------------------------------
    def start(self, ctx: RunContext) -> None:
        spec = ctx.spec
        if spec.cwd is not None and not os.path.isdir(spec.cwd):
            what = "is not a directory" if os.path.exists(spec.cwd) else "does not exist"
            raise RunnerError(f"working directory {spec.cwd!r} {what}")
        # Bytes keys and values: the parent's environment copies without a decode and an
        # encode of every variable, a third of the per-run cost otherwise.
        env: dict[bytes, bytes] = dict(os.environb) if spec.inherit_env else {}
        env.update((os.fsencode(k), os.fsencode(v)) for k, v in spec.env.items())
        env[RUN_ID_ENV.encode()] = ctx.run_id.encode()
        if ctx.execution_id:
            env[EXECUTION_ID_ENV.encode()] = ctx.execution_id.encode()
        argv = spec.argv
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
            )
        except FileNotFoundError as exc:
            if spec.cwd is not None and exc.filename == spec.cwd:
                raise RunnerError(f"working directory {spec.cwd!r} does not exist") from None
            raise RunnerError(f"command not found: {argv[0]!r} ({describe_exit(127)})") from None
        except PermissionError:
            raise RunnerError(f"command not executable: {argv[0]!r} ({describe_exit(126)})") from None
        except OSError as exc:
            raise RunnerError(f"could not start {argv[0]!r}: {exc.strerror or exc}") from None
        self._state(ctx).update(proc=proc, pidfd=os.pidfd_open(proc.pid))
        for pipe in (proc.stdout, proc.stderr):
            fd = pipe.fileno()  # type: ignore[union-attr]
            os.set_blocking(fd, False)
            try:
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            except OSError:
                pass  # a smaller pipe only costs throughput

    # -- stream and wait in one loop -----------------------------------------------------
    def supervise(self, ctx: RunContext) -> Exit:
        st = self._state(ctx)
        proc: subprocess.Popen[bytes] = st["proc"]
        ctx.metadata["pid"] = proc.pid  # in the result, not reported at start: a pid needs no live write
        keep_background = bool(ctx.spec.options.get("keep_background", False))
        read_size = int(ctx.spec.options.get("read_size", READ_SIZE))
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

        open_pipes = 2
        exited = False
        drain_until: float | None = None
        kill_at: float | None = None  # set once a stop has sent SIGTERM
        while open_pipes or not exited:
            # The hot path (no deadline, nothing stopping) reads no clock and checks nothing.
            timed = ctx.deadline is not None or kill_at is not None or drain_until is not None
            timeout = None
            if timed:
                now = time.monotonic()
                waits = [t - now for t in (ctx.deadline if kill_at is None else None, kill_at, drain_until) if t]
                timeout = max(0.0, min(waits)) if waits else None
            for key, _ in sel.select(timeout):
                what = key.data
                if what == "stdout" or what == "stderr":
                    if not _drain(ctx, key.fd, what, read_size):
                        sel.unregister(key.fd)
                        open_pipes -= 1
                elif what == "exit":
                    sel.unregister(key.fd)
                    exited = True
                    if not keep_background or kill_at is not None:
                        _killpg(proc.pid, signal.SIGKILL)
                    if open_pipes:
                        drain_until = time.monotonic() + (0.05 if keep_background else DRAIN_TIMEOUT)
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
            if kill_at is None and ctx.check_stop() is not None:
                _killpg(proc.pid, signal.SIGTERM)
                kill_at = now + ctx.spec.grace_period
                ctx.stop_detail += f"; sent SIGTERM to the process group, grace {ctx.spec.grace_period:g}s"
            elif kill_at is not None and now >= kill_at:
                if not exited or open_pipes:
                    ctx.stop_detail += ", then SIGKILL"
                self._kill_all(ctx)
                kill_at = float("inf")
                drain_until = drain_until or now + DRAIN_TIMEOUT
            if drain_until is not None and time.monotonic() >= drain_until and open_pipes:
                if not keep_background:  # whoever still holds the pipes left the group: find it
                    killed = _sweep_escaped(ctx.run_id)
                    if killed:
                        ctx.say(f"killed {killed} process(es) of this run that had left its process group")
                break
        if kill_at is not None:
            # A stop: also catch whatever escaped the group with setsid.
            _sweep_escaped(ctx.run_id)
        returncode = proc.wait()
        return Exit(exit_code=returncode, signal=signal_name(-returncode) if returncode < 0 else None)

    def _kill_all(self, ctx: RunContext) -> None:
        proc = self._state(ctx)["proc"]
        _killpg(proc.pid, signal.SIGKILL)
        _sweep_escaped(ctx.run_id)

    # The generic life-cycle steps, used when the base class stops the work itself.
    def stream(self, ctx: RunContext) -> None:  # pragma: no cover - supervise covers it
        raise NotImplementedError("LocalRunner streams inside supervise()")

    def wait(self, ctx: RunContext) -> Exit:  # pragma: no cover - supervise covers it
        raise NotImplementedError("LocalRunner waits inside supervise()")

    def terminate(self, ctx: RunContext, grace: float) -> str:
        st = self._state(ctx)
        proc = st.get("proc")
        if proc is None or proc.returncode is not None:
            return "nothing to stop"
        _killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        self._kill_all(ctx)
        return f"sent SIGTERM, then SIGKILL after {grace:g}s"

    def cleanup(self, ctx: RunContext) -> None:
        st = self._state(ctx)
        proc = st.get("proc")
        if proc is not None:
            if proc.returncode is None:
                self._kill_all(ctx)
                proc.wait()
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe is not None:
                    pipe.close()
        if "selector" in st:
            st["selector"].close()
        if "pidfd" in st:
            os.close(st["pidfd"])

    @staticmethod
    def _state(ctx: RunContext) -> dict[str, Any]:
        return ctx.state


def _drain(ctx: RunContext, fd: int, stream: Stream, read_size: int) -> bool:
    """Read what a ready pipe holds, a bounded number of reads per wake-up so the loop
    still sees the deadline and the other pipe. False at end of file."""
    read, emit = os.read, ctx.emit_fast()
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
    marker = f"{RUN_ID_ENV}={run_id}\0".encode()
    me = os.getpid()
    killed = 0
    for _ in range(3):  # a dying parent may fork once more; look again until none is left
        found = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == me:
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if marker not in fh.read():
                        continue
                os.kill(int(entry), signal.SIGKILL)
                found += 1
            except OSError:
                continue
        killed += found
        if not found:
            break
    return killed
