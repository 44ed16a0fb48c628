"""The ``runwright`` command line: run, list, show, logs, events, submit, cancel, group, worker,
reap, info, runners, serve, stats. Inside a Django project (DJANGO_SETTINGS_MODULE, or ``manage.py runwright``)
it works on the project's settings, database and Celery app."""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import shutil
import signal
import sys
import threading
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import click
import typer
from typer.core import TyperCommand

from runwright.integrations.cli import fast_params
from runwright.runners.cancel import CancelToken
from runwright.runners.events import NullReporter, Stream
from runwright.runners.exitcodes import shell_code
from runwright.runners.result import RunResult
from runwright.runners.spec import RunSpec, SpecError
from runwright.runners.status import ACTIVE, Status

if TYPE_CHECKING:
    from datetime import datetime

fast_params.install()  # option values without pydantic (start-up time)
app = typer.Typer(pretty_exceptions_enable=False, context_settings={"help_option_names": ["-h", "--help"]},
                  help="Run commands anywhere and record every run.")


class _StderrConsole:
    """rich's stderr Console, made on first use: most commands print nothing there, and
    importing rich.console costs start-up time."""

    _console: Any = None

    def __getattr__(self, name: str) -> Any:
        if _StderrConsole._console is None:
            from rich.console import Console

            _StderrConsole._console = Console(stderr=True, highlight=False)
        return getattr(_StderrConsole._console, name)


err = _StderrConsole()

#: Exit codes of `runwright run` when the command's own code does not apply.
EXIT_TIMEOUT, EXIT_CANCELLED, EXIT_COULD_NOT_RUN = 124, 130, 125
#: Bad input (an option, a spec, a group file): nothing was recorded.
EXIT_USAGE = 2
#: runwright could not do its job: the database, the broker or the data directory is
#: unusable (as ``docker`` uses 125 for its daemon's errors). Nothing was recorded.
EXIT_ENVIRONMENT = 125
#: Our stdout was closed (``runwright run -- seq 1 100000000 | head -3``): the run is stopped
#: as cancelled, as the shell's SIGPIPE stops a command writing to a closed pipe (128+13).
EXIT_BROKEN_PIPE = 141
#: A command needs an optional extra that is not installed (`pip install 'runwright[celery]'`).
EXIT_MISSING_EXTRA = 3
#: Bad input (a spec, an option, an unknown runner) and a runner that cannot be used (it
#: breaks the contract, or its name is registered by two distributions).
EXIT_BAD_INPUT, EXIT_RUNNER_BROKEN = EXIT_USAGE, 3


def _print_version(value: bool) -> None:
    if value:
        from runwright import __version__

        typer.echo(f"runwright {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version, help="Print runwright's version and exit.")] = False,
) -> None:
    """Run commands anywhere and record every run."""
    if ctx.invoked_subcommand is None:  # `runwright` alone: its help, exit 0 (as git and kubectl)
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


class CliError(Exception):
    """Bad input: one clear line, no traceback."""


def fail(message: str, code: int = 2) -> NoReturn:
    from rich.markup import escape

    err.print(f"[bold red]runwright:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _setup() -> None:
    """Django for the CLI: the project's (DJANGO_SETTINGS_MODULE) or the embedded one; a
    project that cannot be loaded ends the command with one line."""
    import os

    if os.environ.get("DJANGO_SETTINGS_MODULE") and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `manage.py` and `celery -A` do: the project is here
    from django.core.exceptions import ImproperlyConfigured

    from runwright.integrations.django import setup
    from runwright.integrations.django.bootstrap import NotInstalled
    from runwright.integrations.settings import check_settings

    check_settings()  # every declared RUNWRIGHT_* setting, before anything is recorded
    import gc

    collecting = gc.isenabled()
    gc.disable()  # Django's set-up imports the ORM: long-lived objects only, nothing to collect
    try:
        setup()
    except (NotInstalled, ImproperlyConfigured) as exc:
        if "psycopg" in str(exc):  # Django's word for a PostgreSQL DATABASE_URL without the driver
            fail("a PostgreSQL database needs the postgres extra (psycopg not installed): "
                 "pip install 'runwright[postgres]'", code=EXIT_MISSING_EXTRA)
        fail(str(exc))
    except ImportError as exc:
        fail(f"DJANGO_SETTINGS_MODULE={os.environ.get('DJANGO_SETTINGS_MODULE')!r} cannot be imported: {exc}")
    finally:
        if collecting:
            gc.enable()


class _OneLineLog(logging.Handler):
    """runwright's log records in a command's stderr as one line each: the message's first
    line and, for a logged traceback, its last (the exception). RUNWRIGHT_DEBUG=1 keeps them whole."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            lines = record.getMessage().strip().splitlines() or [""]
            text = lines[0] if len(lines) == 1 else f"{lines[0].rstrip(':')}: {lines[-1].strip()}"
            err.print(f"runwright: {text}", markup=False, highlight=False, soft_wrap=True)
        except Exception:
            self.handleError(record)


def _log_in_one_line() -> None:
    """Only where nothing else handles runwright's records (Python's last-resort handler
    would print a logged traceback whole); a project's logging configuration is left alone."""
    if os.environ.get("RUNWRIGHT_DEBUG"):
        return
    ours = logging.getLogger("runwright")
    if not ours.handlers and not logging.getLogger().handlers:
        handler = _OneLineLog(logging.WARNING)
        ours.addHandler(handler)


def _logger() -> Any:
    from runwright.logging_core import ExecutionLogger

    _log_in_one_line()
    _setup()
    # No Prometheus metrics in a one-shot command: nothing would ever scrape them (a worker's
    # --metrics-port and the web UI serve theirs); RUNWRIGHT_OBSERVERS still apply.
    logger = ExecutionLogger(metrics=False)
    _reap_dead_supervisors(logger)
    return logger


def _supervisor_name() -> str:
    """This command's identity (``host:boot_id:pid_ns:start_time:pid``), recorded as the
    worker of the runs it supervises."""
    from runwright.runners.process_identity import ProcessIdentity

    return str(ProcessIdentity.of())


def _reap_dead_supervisors(logger: Any) -> None:
    """What AWX's reaper does when its service starts, at the start of every command: a run
    left ``running`` by a runwright process that provably ran here (this boot, this pid
    namespace) and no longer runs (a killed ``runwright run``, a closed terminal, a library
    caller gone) has its work stopped through its handle and is marked ``lost``, instead of
    waiting for someone to run ``reap``. A run of a process elsewhere (another machine, a
    container sharing this hostname, an identity stored as ``host:pid``) is left to the lease
    that worker reapers and ``runwright reap`` judge; runs of Celery workers are not touched
    (see below). Never in the way of the command itself: a failure is logged, not raised."""
    import importlib.util

    try:
        from runwright.integrations.django.models import Execution
        from runwright.runners.process_identity import local_marker

        marker = local_marker()
        if marker is None:
            return
        # A Celery worker's runs (they have a task) are left to its redelivered message and the
        # worker reaper, which follow the runner's policy: work to re-attach must not be killed here.
        rows = Execution.objects.filter(status=Status.RUNNING.value, worker__contains=marker, task_id="")
        candidates = list(rows.values_list("id", "worker"))
        if not candidates or importlib.util.find_spec("celery") is None:
            return
        from datetime import UTC, datetime

        from runwright.integrations.celery.reaper import DEFAULT_GRACE
        from runwright.integrations.celery.recovery import gone_reason, local_workers_gone, runner_class, stop_and_mark_lost

        dead = local_workers_gone(candidates)

        for ref in dead:
            view = logger.get(ref)
            why = gone_reason(view, float("inf"), datetime.now(UTC)) if view.status == Status.RUNNING else None
            if why is not None:
                spec = Execution.objects.filter(pk=ref).values_list("spec", flat=True).first() or {}
                grace = float(spec.get("grace_period") or DEFAULT_GRACE)
                stop_and_mark_lost(logger, view, why, runner_class(view.runner), _supervisor_name(), grace, "cli")
    except Exception as exc:
        logging.getLogger("runwright.cli").warning("could not reap runs of dead runwright processes: %s", exc)


def _sweep_leftovers(logger: Any, spec: RunSpec, ref: Any) -> None:
    """The end of a run already kills what it left, found at no cost through a descriptor
    its processes inherit; a daemon that closed every descriptor and left the group escapes
    that check. A command line can afford the full look (every process's environment, a few
    milliseconds) for the run's tag, so nothing of a CLI run outlives it."""
    if spec.runner != "local" or spec.options.get("keep_background"):
        return
    from runwright.runners.registry import get_runner_class

    try:
        tag = f"{logger.store.key}:{ref}"
        get_runner_class(spec.runner).sweep(lambda owner: owner != tag)
    except Exception as exc:
        logging.getLogger("runwright.cli").warning("could not look for processes the run left: %s", exc)


def _need_celery(command: str) -> None:
    """Commands that queue or work through Celery need the celery extra: say so in one line."""
    import importlib.util

    missing = [m for m in ("celery", "cryptography") if importlib.util.find_spec(m) is None]
    if missing:
        fail(f"`runwright {command}` needs the celery extra ({', '.join(missing)} not installed): "
             "pip install 'runwright[celery]'", code=EXIT_MISSING_EXTRA)


def parse_pairs(option: str, values: list[str], *, secret: bool = False) -> dict[str, str]:
    out = {}
    for i, item in enumerate(values):
        key, sep, value = item.partition("=")
        if not sep or not key:
            # A secret's value is never repeated, not even in an error.
            shown = f"(value #{i + 1} not shown)" if secret else repr(item)
            raise CliError(f"{option} {shown}: expected KEY=VALUE")
        out[key] = value
    return out


class ConsoleEcho(NullReporter):
    """Writes output to this terminal as it arrives, stdout to stdout, the rest to stderr.

    When the reader of our stdout goes away (``| head -3``) the run is stopped as cancelled
    through ``cancel`` (the way SIGPIPE stops a command in a shell pipeline) and nothing more
    is written there; what the command printed so far stays recorded."""

    def __init__(self, cancel: CancelToken | None = None) -> None:
        self.cancel = cancel
        self.closed: set[str] = set()
        #: How to find the work (pid, container id), for a second Ctrl-C that stops it at once.
        self.work: dict[str, Any] | None = None
        #: Set once ``work`` is known.
        self.work_known = threading.Event()

    def handle(self, handle: Any) -> None:
        self.work = dict(handle)
        self.work_known.set()

    @staticmethod
    def target(stream: str) -> str:
        """Where a stream's output is printed: ``stdout``, or ``stderr`` (stderr and runwright's lines)."""
        return "stdout" if stream == "stdout" else "stderr"

    def output(self, stream: Stream, data: bytes) -> None:
        name = self.target(stream)
        if name in self.closed:
            return
        target = sys.stdout.buffer if name == "stdout" else sys.stderr.buffer
        try:
            target.write(data)
            target.flush()
        except BrokenPipeError:
            self.closed.add(name)
            _silence(name)
            if self.cancel is not None:
                self.cancel.cancel(f"runwright's {name} was closed (broken pipe)")


def _silence(name: str) -> None:
    """Point a closed standard stream at /dev/null so nothing more fails on it (Python's
    own flush at exit included)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1 if name == "stdout" else 2)
    os.close(devnull)


def exit_code_for(result: RunResult) -> int:
    if result.status == Status.TIMEOUT:
        return EXIT_TIMEOUT
    if result.status == Status.CANCELLED:
        return EXIT_CANCELLED
    if result.status in (Status.ERROR, Status.LOST):
        return EXIT_COULD_NOT_RUN
    if result.exit_code is None:  # work that has no exit code (a remote build): its status says
        return {Status.SUCCESS: 0, Status.FAILED: 1}.get(result.status, EXIT_COULD_NOT_RUN)
    return result.exit_code if result.exit_code >= 0 else shell_code(-result.exit_code)


def parse_options(values: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` runner options; a VALUE that parses as JSON is taken as JSON."""
    options: dict[str, Any] = {}
    for key, raw in parse_pairs("--option", values).items():
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def _takes_command(runner: str) -> bool:
    """Whether the runner runs a command line (``Runner.command == "argv"``); a runner that
    takes what to run from its options (an Ansible playbook) runs with none."""
    from runwright.runners import RunnerLoadError, get_runner_class

    try:
        return get_runner_class(runner).command != "none"
    except RunnerLoadError:
        return True  # the run reports the unknown or broken runner


def build_spec(
    command: list[str], runner: str, timeout: float | None, env: list[str], secret: list[str], cwd: str | None,
    shell: bool = False, labels: list[str] | None = None, options: list[str] | None = None,
) -> RunSpec:
    if not command and _takes_command(runner):
        raise CliError("no command given; usage: runwright run [OPTIONS] -- CMD [ARGS]...")
    env_map = parse_pairs("--env", env)
    secret_map = parse_pairs("--secret", secret, secret=True)
    env_map.update(secret_map)
    return RunSpec(
        command=(" ".join(command) if shell else command) if command else None, shell=shell, runner=runner,
        timeout=timeout,
        env=env_map, secret_env=sorted(secret_map), cwd=cwd, labels=parse_pairs("--label", labels or []),
        options=parse_options(options or []),
    )


def _takes_command(runner: str) -> bool:
    """False for a runner that takes what to run from its options (``Runner.command = "none"``:
    a Jenkins job, a GitLab pipeline)."""
    from runwright.runners.conformance import RunnerLoadError
    from runwright.runners.registry import get_runner_class

    try:
        return get_runner_class(runner).command != "none"
    except RunnerLoadError:
        return True


def checked_spec(*args: Any) -> RunSpec:
    """build_spec, then the runner's own validation; bad input ends the command with one line."""
    from runwright.runners.registry import RunnerLoadError, UnknownRunner, get_runner_class

    spec: RunSpec | None = None
    try:
        spec = build_spec(*args)
        get_runner_class(spec.runner)().validate(spec)
    except SpecError as exc:
        # The spec may not exist yet (RunSpec itself refused a value).
        name = f" {spec.runner}" if spec is not None else ""
        hint = f" (see `runwright runners{name}`)" if exc.field.startswith("options") else ""
        fail(f"{exc}{hint}")
    except (CliError, UnknownRunner) as exc:
        fail(str(exc))
    except RunnerLoadError as exc:
        fail(str(exc), EXIT_RUNNER_BROKEN)
    assert spec is not None  # every failure above ended the command
    return spec


def _runner_named_in_argv(argv: list[str]) -> str:
    """The runner a `run`/`submit` command line names (before `--`), for its --help."""
    name = "local"
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg in ("-r", "--runner") and i + 1 < len(argv):
            name = argv[i + 1]
        elif arg.startswith("--runner="):
            name = arg.split("=", 1)[1]
        elif arg.startswith("-r") and len(arg) > 2:
            name = arg[2:]
    return name


class RunnerHelp(TyperCommand):
    """`run -r NAME --help` ends with NAME's options, from its schema."""

    def format_help(self, ctx: Any, formatter: Any) -> None:
        super().format_help(ctx, formatter)
        name = _runner_named_in_argv(sys.argv[1:])
        try:
            text = describe_runner(name)
        except Exception as exc:  # help must never fail
            text = f"runner {name!r}: {exc}"
        formatter.write("\n" + text + "\n")


RunnerOpt = Annotated[str, typer.Option("--runner", "-r", help="Runner name (see `runwright runners`).")]
TimeoutOpt = Annotated[float | None, typer.Option("--timeout", "-t", help="Seconds before the run is stopped.")]
EnvOpt = Annotated[list[str] | None, typer.Option("--env", "-e", help="KEY=VALUE, repeatable.")]
SecretOpt = Annotated[list[str] | None, typer.Option("--secret", "-s", help="KEY=VALUE set and masked everywhere.")]
CwdOpt = Annotated[str | None, typer.Option("--cwd", help="Working directory.")]
LabelOpt = Annotated[list[str] | None, typer.Option("--label", "-l", help="KEY=VALUE label, repeatable.")]
ShellOpt = Annotated[bool, typer.Option("--shell", help="Run the command as one /bin/sh string.")]
OptionOpt = Annotated[
    list[str] | None,
    typer.Option("--option", "-o", help="Runner option KEY=VALUE (VALUE may be JSON), e.g. -o image=alpine:3."),
]


@app.command(cls=RunnerHelp, context_settings={"allow_interspersed_args": False})
def run(
    command: Annotated[list[str] | None, typer.Argument(help="The command and its arguments, after --.")] = None,
    runner: RunnerOpt = "local", timeout: TimeoutOpt = None, env: EnvOpt = None, secret: SecretOpt = None,
    cwd: CwdOpt = None, label: LabelOpt = None, shell: ShellOpt = False, option: OptionOpt = None,
    interactive: Annotated[bool, typer.Option(
        "--interactive", "-i", help="Pass runwright's stdin to the command (read to its end first).")] = False,
    grace: Annotated[float | None, typer.Option(
        metavar="SECONDS", min=0, help="On timeout or Ctrl-C: seconds between SIGTERM and SIGKILL (default 5).")] = None,
) -> None:
    """Run a command, stream its output live, record it; exit with its exit code.

    Ctrl-C stops the run (SIGTERM, then SIGKILL after the grace period); a second Ctrl-C kills it at once."""
    spec = checked_spec(command or [], runner, timeout, env or [], secret or [], cwd, shell, label, option)
    if grace is not None or interactive:

        changes: dict[str, Any] = {} if grace is None else {"grace_period": grace}
        if interactive:
            changes["stdin"] = sys.stdin.buffer.read()
        try:
            spec = dataclasses.replace(spec, **changes)  # validated again on creation
        except SpecError as exc:
            fail(str(exc))
    logger = _logger()
    cancel = CancelToken()
    echo = ConsoleEcho(cancel)
    _stop_on_signals(cancel, echo, spec.runner)
    signal.signal(signal.SIGHUP, lambda *_: cancel.cancel("its terminal was closed (SIGHUP)"))
    if spec.runner == "local" and "die_with_supervisor" not in spec.options and shutil.which("setpriv"):
        # If this command is killed outright, its command dies with it (the rest of the run is
        # stopped by the next runwright command, see _reap_dead_supervisors).
        spec = dataclasses.replace(spec, options={**spec.options, "die_with_supervisor": True})
    ref = logger.create(spec)
    from django.db import connections

    connections.close_all()  # the process's writer records the run; this thread holds no connection meanwhile
    result = logger.run(spec, ref, cancel=cancel, tee=echo, worker=_supervisor_name())
    _wait_written(logger)
    _sweep_leftovers(logger, spec, ref)
    if "stdout" in echo.closed:
        raise typer.Exit(EXIT_BROKEN_PIPE)
    summarise_and_exit(ref, result)


def _wait_written(logger: Any) -> None:
    """A database outage outlasted its window: the run was stopped and its end is not stored
    yet. Wait for the database (the reaper would otherwise mark the run lost); Ctrl-C or
    SIGTERM gives up."""
    if logger.wait_written(timeout=0.5):
        return
    err.print("runwright: the database is unreachable: waiting to record the end of the run (Ctrl-C to give up)",
              markup=False)
    give_up = CancelToken()
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: give_up.cancel("given up"))
    if not logger.wait_written(give_up=give_up):
        err.print("runwright: gave up: the run stays running until a reaper marks it lost", markup=False)


def _stop_on_signals(cancel: CancelToken, echo: ConsoleEcho, runner: str) -> None:
    """Ctrl-C or SIGTERM cancels the run (the runner stops it within its grace period); a
    second one kills the work at once through its handle, as docker and kubectl do."""

    received: list[int] = []

    def stop_at_once(name: str) -> None:
        # In a thread of its own, not in the handler: the handler may have interrupted the
        # first one's print (the console's lock), and the work's handle may not be known yet.
        echo.work_known.wait()
        from runwright.runners.registry import get_runner_class

        err.print(f"runwright: {name} again: stopping without grace", markup=False)
        assert echo.work is not None
        get_runner_class(runner).stop_handle(echo.work, 0)

    def stop(signum: int, _frame: Any) -> None:
        # Counted first: a second signal can interrupt this very handler.
        received.append(signum)
        name = signal.Signals(signum).name
        if len(received) == 1:
            cancel.cancel(f"{'interrupted' if signum == signal.SIGINT else 'terminated'} ({name})")
            err.print(f"runwright: {name}: stopping the run (again to stop it at once)", markup=False)
        elif len(received) == 2:
            threading.Thread(target=stop_at_once, args=(name,), daemon=True, name="runwright-stop-at-once").start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)


def summarise_and_exit(ref: Any, result: RunResult) -> None:
    """The one-line summary on stderr, then exit with the code `run` promises."""
    from runwright.integrations.cli.output import summary_line

    summary = summary_line(ref, result)
    err.print(summary, markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code_for(result))


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(metavar="STATUS", help="Only this status.")] = None,
    runner: Annotated[str | None, typer.Option(metavar="NAME", help="Only this runner.")] = None,
    limit: Annotated[int, typer.Option(metavar="N", min=1, max=10000, help="At most N executions.")] = 20,
    output: Annotated[str, typer.Option(
        "--output", "-o", metavar="FORMAT", help="table, wide, json (an array) or yaml.")] = "table",
    as_json: Annotated[bool, typer.Option("--json", help="The same as -o json.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only the ids, one a line.")] = False,
) -> None:
    """List recent executions, newest first."""
    from runwright.integrations.cli.output import FORMATS

    if status is not None and status not in {s.value for s in Status}:
        fail(f"--status {status!r}: expected one of {', '.join(s.value for s in Status)}")
    if output not in FORMATS:
        fail(f"--output {output!r}: expected one of {', '.join(FORMATS)}")
    logger = _logger()
    rows = logger.list(status=status, runner=runner, limit=limit)
    if quiet:
        for row in rows:
            typer.echo(row.id)
        return
    fmt = "json" if as_json else output
    if fmt in ("json", "yaml"):
        _print_data([_shape(logger, row) for row in rows], fmt)
        return
    from runwright.integrations.cli.listing import execution_table

    typer.echo(execution_table(rows, wide=fmt == "wide", log_end=lambda ref: logger.store.log_end(ref)))


def _shape(logger: Any, view: Any) -> dict[str, Any]:
    from runwright.integrations.execution_shape import execution_dict

    return execution_dict(view, logger.store.log_end(view.id) if view.status in ACTIVE else None)


def _print_data(data: Any, fmt: str) -> None:
    if fmt == "yaml":
        from runwright.integrations.cli.output import to_yaml

        typer.echo(to_yaml(data))
    else:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _existing(logger: Any, execution_id: str) -> Any:
    from runwright.logging_core import NotFound

    try:
        return logger.get(int(execution_id))
    except (NotFound, ValueError):
        fail(f"no execution with id {execution_id!r}")


@app.command()
def show(
    execution_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json", help="The same as -o json.")] = False,
    output: Annotated[str, typer.Option("--output", "-o", metavar="FORMAT", help="text, json or yaml.")] = "text",
) -> None:
    """Show one execution: status, how it ended, times, output sizes.

    -o json is the shape `list -o json` prints, plus the output tails and the runner's metadata."""
    if output not in ("text", "json", "yaml"):
        fail(f"--output {output!r}: expected one of text, json, yaml")
    logger = _logger()
    view = _existing(logger, execution_id)
    fmt = "json" if as_json else output
    if fmt != "text":
        result = logger.result_of(view.id)
        data = _shape(logger, view)
        data.update(stdout_tail=result.stdout_tail, stderr_tail=result.stderr_tail, metadata=result.metadata)
        _print_data(data, fmt)
        return
    from runwright.integrations.cli.listing import execution_text

    typer.echo(execution_text(view, logger.result_of(view.id), logger.store.log_end(view.id)))


@app.command()
def logs(
    execution_id: Annotated[str, typer.Argument(metavar="ID")],
    follow: Annotated[bool, typer.Option(
        "--follow", "-f", help="Keep printing until the run ends, then exit with its exit code (as `run`).")] = False,
    tail: Annotated[int | None, typer.Option(
        "--tail", "-n", metavar="N", min=0, help="Only the last N lines (stdout and stderr together).")] = None,
    offset: Annotated[int, typer.Option(metavar="BYTES", help="Start at this byte of the log.", min=0)] = 0,
    since: Annotated[str | None, typer.Option(
        metavar="DURATION|TIME",
        help="Only output received at or after this time: a duration back from now (90s, 10m, 1h30m) or an "
             "RFC 3339 time (2026-12-07T10:00:00Z, 2026-12-07T11:00:00+01:00). Output is kept or left out a "
             "chunk at a time: what was received within one flush interval (0.2 s unless "
             "RUNWRIGHT_FLUSH_INTERVAL says otherwise).")] = None,
    timestamps: Annotated[bool, typer.Option(
        "--timestamps", "-t", help="Start each line with the time it was received (RFC 3339, UTC).")] = False,
) -> None:
    """Print an execution's log (stdout to stdout, stderr and runwright's lines to stderr)."""
    since_time = _since(since) if since is not None else None
    logger = _logger()
    view = _existing(logger, execution_id)
    if tail is not None:
        from runwright.integrations.cli.tail import tail_offset

        offset = max(offset, tail_offset(logger, view.id, tail))
    chunks = (logger.follow(view.id, offset, since=since_time) if follow
              else logger.iter_log(view.id, offset, since=since_time))
    echo = ConsoleEcho()
    times = None
    if timestamps:
        from runwright.integrations.cli.timestamps import LineTimes

        times = LineTimes()
    try:
        for chunk in chunks:
            data = chunk.data if times is None else times.stamp(echo.target(chunk.stream), chunk.data, chunk.at)
            echo.output(chunk.stream, data)
            if "stdout" in echo.closed:  # the reader went away: stop reading (the run goes on)
                raise typer.Exit(EXIT_BROKEN_PIPE)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if follow:  # the run has ended: its exit code, as `run` and `submit --wait` end
        raise typer.Exit(exit_code_for(logger.result_of(view.id)))


def _since(text: str) -> datetime:
    """The time ``logs --since`` names; a bad value is one line and exit code 2."""
    from datetime import UTC, datetime

    from runwright.integrations.cli.since import BadSince, parse_since

    try:
        return parse_since(text, datetime.now(UTC))
    except BadSince as exc:
        fail(str(exc), EXIT_USAGE)


@app.command()
def events(
    execution_id: Annotated[str, typer.Argument(metavar="ID")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")] = False,
    after: Annotated[int, typer.Option(help="Only events numbered after N.", min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines: seq, kind, at, data.")] = False,
) -> None:
    """Print an execution's structured events, numbered from 1 (a task result, a pod phase)."""
    logger = _logger()
    view = _existing(logger, execution_id)
    found = logger.follow_events(view.id, after) if follow else logger.iter_events(view.id, after)
    try:
        for event in found:
            if as_json:
                typer.echo(json.dumps(event.to_dict(), default=str))
            else:
                data = json.dumps(event.data, default=str, ensure_ascii=False)
                typer.echo(f"{event.seq}\t{event.at.isoformat()}\t{event.kind}\t{data}")  # RFC 3339, with its zone
            sys.stdout.flush()
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command(cls=RunnerHelp, context_settings={"allow_interspersed_args": False})
def submit(
    command: Annotated[list[str] | None, typer.Argument(help="The command and its arguments, after --.")] = None,
    runner: RunnerOpt = "local", timeout: TimeoutOpt = None, env: EnvOpt = None, secret: SecretOpt = None,
    cwd: CwdOpt = None, label: LabelOpt = None, shell: ShellOpt = False, option: OptionOpt = None,
    queue: Annotated[str | None, typer.Option(help="Celery queue.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the log and exit like `run` does.")] = False,
) -> None:
    """Queue a run for the workers; prints its execution id."""
    _need_celery("submit")
    spec = checked_spec(command or [], runner, timeout, env or [], secret or [], cwd, shell, label, option)
    _setup()
    from runwright.integrations.celery.app import broker_url

    broker_url()  # a broker URL that cannot work is refused before anything is recorded
    from runwright.integrations.celery import submit as submit_run

    ref = submit_run(spec, queue=queue)
    typer.echo(ref)
    if wait:
        _wait_and_exit(ref)


def _wait_and_exit(ref: int) -> None:
    logger = _logger()
    echo = ConsoleEcho()
    try:
        for chunk in logger.follow(ref):
            echo.output(chunk.stream, chunk.data)
            if "stdout" in echo.closed:  # the reader went away; the run goes on on its worker
                raise typer.Exit(EXIT_BROKEN_PIPE)
    except KeyboardInterrupt:
        from runwright.integrations.celery import cancel as cancel_run

        cancel_run(ref, "interrupted (SIGINT)")
        for chunk in logger.follow(ref, logger.store.log_end(ref)):
            echo.output(chunk.stream, chunk.data)
    summarise_and_exit(ref, logger.result_of(ref))


@app.command()
def cancel(execution_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Cancel an execution: a pending one never starts, a running one is stopped."""
    _need_celery("cancel")
    from runwright.integrations.celery import cancel as cancel_run

    logger = _logger()
    view = _existing(logger, execution_id)
    if view.status not in ACTIVE:
        fail(f"execution {view.id} is already {view.status}", code=1)
    status = cancel_run(view.id)
    typer.echo(f"execution {view.id}: {'cancel requested' if status == Status.RUNNING else status}")


@app.command()
def group(
    spec_file: Annotated[str, typer.Argument(help="JSON: {\"policy\", \"max_parallel\", \"runs\": [RunSpec, ...]}")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the group and exit with 0 on success.")] = False,
) -> None:
    """Queue a parallel group of runs from a spec file; prints the group's execution id."""
    _need_celery("group")
    from runwright.integrations.cli.group_file import GroupFileError, load_group_file

    try:
        group_file = load_group_file(spec_file)
    except (OSError, GroupFileError) as exc:
        fail(str(exc) if isinstance(exc, GroupFileError) else f"{spec_file}: {exc.strerror or exc}")
    _setup()
    from runwright.integrations.celery import submit_group
    from runwright.integrations.celery.app import broker_url

    broker_url()  # a broker URL that cannot work is refused before anything is recorded
    ref = submit_group(group_file.specs, group_file.max_parallel, group_file.policy, name=group_file.name,
                       timeout=group_file.timeout)
    typer.echo(ref)
    _fail_if_nothing_queued(ref)
    if wait:
        import time

        logger = _logger()
        while logger.get(ref).status in ACTIVE:
            time.sleep(0.2)
        view = logger.get(ref)
        err.print(f"runwright: group {ref} {view.status}" + (f": {view.error_message}" if view.error_message else ""),
                  markup=False)
        raise typer.Exit(0 if view.status == Status.SUCCESS else 1)


def _fail_if_nothing_queued(ref: int) -> None:
    """A group that ended as it was submitted had none of its messages sent (the broker is
    unreachable): the reason its first child recorded, and exit 125, as `submit` does."""
    from runwright.integrations.django.models import Execution
    from runwright.runners.status import TERMINAL

    if Execution.objects.filter(pk=ref).values_list("status", flat=True).first() not in TERMINAL:
        return
    reason = (Execution.objects.filter(parent_id=ref, status=Status.ERROR.value).order_by("id")
              .values_list("error_message", flat=True).first() or "no run could be queued")
    fail(f"group {ref} {Execution.objects.get(pk=ref).status}: {reason}", code=EXIT_ENVIRONMENT)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Runs at once in this worker.")] = 2,
    queues: Annotated[str | None, typer.Option(help="Comma-separated queues (default: runwright's queue).")] = None,
    loglevel: Annotated[str, typer.Option()] = "warning",
    metrics_port: Annotated[int | None, typer.Option(metavar="PORT", help="Serve Prometheus metrics on this port.")] = None,
    hostname: Annotated[str | None, typer.Option(
        "--hostname", "-n", metavar="NAME",
        help="The worker's node name, as Celery's -n: w1@%h (%h hostname, %n its first label, %d its domain, "
             "%% a percent). Default: runwright-PID-TAG@HOST, a name no other worker has.")] = None,
) -> None:
    """Start a Celery worker that runs queued executions: on the project's Celery app inside a
    project, else runwright's own (RUNWRIGHT_BROKER_URL, DATABASE_URL). Task events are on.
    Exits with Celery's exit code (1 when the worker could not start)."""
    _need_celery("worker")
    from runwright.integrations.celery.node_name import NodeNameError, default_template, expand, in_use
    from runwright.runners.environment import check_setting

    template = default_template() if hostname is None else hostname
    try:
        name = expand(template)
    except NodeNameError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    check_setting()  # RUNWRIGHT_INHERIT_ENV, before the worker starts taking runs

    if metrics_port is not None:
        from runwright.integrations.prometheus import prepare_worker_metrics

        prepare_worker_metrics()  # before anything imports prometheus_client
    _setup()
    import runwright.integrations.celery.tasks  # noqa: F401  (registers runwright.run on the app)
    from runwright.integrations.celery.app import celery_app, lease_seconds, queue_for

    lease_seconds()  # the reaper's settings, checked now rather than in its thread
    celery = celery_app()
    _check_broker_login(celery)
    if hostname is not None and in_use(celery, name):
        fail(f"--hostname {hostname!r}: a running worker is already named {name!r} on this broker; "
             "give each worker its own name", EXIT_BAD_INPUT)
    argv = ["worker", f"--concurrency={concurrency}", f"--queues={queues or queue_for(celery)}", f"--loglevel={loglevel}",
            f"--hostname={template}", "--task-events", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    if metrics_port is not None:
        from runwright.integrations.prometheus import start_metrics_server

        start_metrics_server(metrics_port)
    # Celery's worker_main() and start() drop the worker's exit code: a worker that could not
    # start (its broker refused it) would exit 0. The worker itself keeps it (exitcode).
    from celery import signals

    made: list[Any] = []
    signals.celeryd_init.connect(lambda instance=None, **_: made.append(instance), weak=False)
    try:
        celery.start(argv=argv)
    except click.ClickException as exc:  # an argument Celery refuses (a --loglevel it does not know)
        fail(exc.format_message(), EXIT_BAD_INPUT)
    raise typer.Exit(int(getattr(made[0], "exitcode", 0) or 0) if made else 0)


def _check_broker_login(celery: Any) -> None:
    """Connect once before the worker starts: a broker that refuses the login (a wrong
    password) is one line and exit 125 here, where Celery would print its traceback. A broker
    that is not up yet (connection refused, a timeout) is left to the worker, which waits for it."""
    from kombu import Connection

    url = str(celery.conf.broker_url or "")
    if not url.startswith(("amqp", "pyamqp", "redis", "rediss")):
        return  # no login to refuse (the embedded broker, a file system)
    # A connection of its own: one made through the app before the worker starts left an
    # amqp worker consuming nothing.
    conn = Connection(url, connect_timeout=5)
    try:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=5)
    except Exception as exc:
        if _is_refused_login(exc):
            raise
    finally:
        conn.release()


def _is_refused_login(exc: BaseException) -> bool:
    """amqp's AccessRefused, redis's AuthenticationError (kombu raises it as the cause of its
    OperationalError); by name: neither client is imported here."""
    names = ("AccessRefused", "AuthenticationError", "AuthenticationWrongNumberOfArgsError")
    return any(type(e).__name__ in names for e in (exc, exc.__cause__) if e is not None)


@app.command()
def reap() -> None:
    """One reaper pass: mark runs of dead workers lost, kill what they left behind, check groups."""
    _need_celery("reap")
    _setup()
    from runwright.integrations.celery.reaper import reap_once

    typer.echo(json.dumps(reap_once()))


@app.command()
def info(as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False) -> None:
    """Which settings, database and broker this command line (and a worker started from it) uses."""
    import os

    _setup()
    from django.conf import settings
    from django.db import connection

    from runwright.integrations.django.bootstrap import is_standalone

    cfg = connection.settings_dict
    where = cfg.get("NAME") if connection.vendor == "sqlite" else \
        f"{cfg.get('USER') or ''}@{cfg.get('HOST') or 'localhost'}:{cfg.get('PORT') or ''}/{cfg.get('NAME')}"
    data: dict[str, Any] = {
        "mode": "standalone" if is_standalone() else "project",
        "settings": "runwright's embedded settings" if is_standalone()
        else (settings.SETTINGS_MODULE or "configured by the caller"),
        "database": f"{connection.vendor} {where}",
    }
    import importlib.util

    if importlib.util.find_spec("celery") is None:
        data["broker"] = "none (the celery extra is not installed)"
    else:
        from runwright.integrations.celery.app import celery_app, queue_for, sending_broker_url

        celery = celery_app()
        data["celery_app"] = celery.main or "?"
        data["broker"] = _masked_url(sending_broker_url())
        data["queue"] = queue_for(celery)
    data["home"] = os.environ.get("RUNWRIGHT_HOME") or "(platform default)"
    if as_json:
        typer.echo(json.dumps(data))
        return
    for key, value in data.items():
        typer.echo(f"{key + ':':<12}{value}")


def _masked_url(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":****@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


@app.command()
def runners(
    name: Annotated[str | None, typer.Argument(help="Show this runner: what it runs, its hooks, its options.")] = None,
    markdown: Annotated[bool, typer.Option("--markdown", help="Only the options table, in Markdown.")] = False,
) -> None:
    """List the installed runners (the `runwright.runners` entry-point group), or show one."""
    from runwright.runners.options import markdown_table
    from runwright.runners.registry import RunnerLoadError, UnknownRunner, available_runners, get_runner_class

    if name is None:
        from runwright.runners.registry import runner_classes

        classes = runner_classes()
        for runner_name, where in available_runners().items():
            problem = classes.get(runner_name)
            note = f"\tunusable: {problem}" if isinstance(problem, RunnerLoadError) else ""
            typer.echo(f"{runner_name}\t{where}{note}")
        return
    try:
        cls = get_runner_class(name)
    except UnknownRunner as exc:
        fail(str(exc))
    except RunnerLoadError as exc:
        fail(str(exc), EXIT_RUNNER_BROKEN)
    typer.echo(markdown_table(cls.options) if markdown else describe_runner(name))


def describe_runner(name: str) -> str:
    """A runner's description for people: what it runs, its policies, its options."""
    from runwright.runners.options import help_rows
    from runwright.runners.registry import get_runner_class

    cls = get_runner_class(name)
    doc = (cls.__doc__ or "").strip().splitlines()
    lines = [f"{name}: {doc[0] if doc else cls.__qualname__}"]
    lines.append("what to run: " + ("the command after -- (RunSpec.command)" if cls.command == "argv"
                                     else "taken from its options (no command)"))
    lines.append(f"when its worker dies: {cls.on_worker_lost}"
                 + ("; another worker re-attaches" if cls.can_attach() and cls.on_worker_lost == "reattach" else ""))
    rows = help_rows(cls.options)
    if not rows:
        lines.append("options: none")
        return "\n".join(lines)
    lines.append("options (-o NAME=VALUE, VALUE parsed as JSON when it is JSON):")
    width = max(len(r[0]) for r in rows)
    for opt, type_name, default, text in rows:
        lines.append(f"  {opt.ljust(width)}  {type_name}, {_default_words(default)}"
                     + (f": {text}" if text else ""))
    return "\n".join(lines)


def _default_words(default: str) -> str:
    return {"required": "required", "-": "optional"}.get(default, f"default {default}")


def main(argv: list[str] | None = None, prog_name: str | None = None) -> int:
    """The command line; ``argv`` without the program name (default: sys.argv). Returns the
    exit code when it does not exit itself (``manage.py runwright`` calls it this way). A
    problem of the environment (database, broker, data directory, a setting) is one line and
    exit code 125, never a traceback (``RUNWRIGHT_DEBUG=1`` shows it)."""
    command = typer.main.get_command(app)
    from runwright.integrations.cli.metavars import readable_metavars

    readable_metavars(command)
    from typer import _click  # typer's own click (vendored since typer 0.2x)
    from typer.exceptions import Abort

    try:
        # Not standalone: a typer.Exit comes back as its code, and a usage error is ours to
        # print, as one line like every other bad input (typer draws it as a 5-line box).
        code = command.main(args=argv, prog_name=prog_name or "runwright", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except _click.exceptions.ClickException as exc:
        where = getattr(getattr(exc, "ctx", None), "command_path", "") or "runwright"
        err.print(f"runwright: {exc.format_message()} (see `{where} --help`)", markup=False, highlight=False,
                  soft_wrap=True)
        return exc.exit_code
    except Abort:
        return 130
    except Exception as exc:
        if os.environ.get("RUNWRIGHT_DEBUG"):
            raise
        if "runwright_execution" in str(exc) or "runwright_logchunk" in str(exc):
            # A project that has not migrated runwright's app yet (runwright never migrates there).
            err.print("runwright: runwright's tables are missing from the project's database: "
                      "run `manage.py migrate runwright`", markup=False, soft_wrap=True)
            return EXIT_USAGE
        from runwright.integrations.cli.errors import describe

        if isinstance(exc, OSError) and exc.errno == errno.EPIPE:
            _silence("stdout")
            return EXIT_BROKEN_PIPE
        from rich.markup import escape

        err.print(f"[bold red]runwright:[/] {escape(describe(exc))}", markup=True, highlight=False, soft_wrap=True)
        return EXIT_ENVIRONMENT
    return 0


# Commands kept in modules of their own.
from runwright.integrations.cli.serve import serve  # noqa: E402
from runwright.integrations.cli.stats import stats  # noqa: E402

app.command("serve")(serve)
app.command("stats")(stats)


def console() -> None:
    """The console script as installs made before it moved to ``runwright.integrations.cli``
    call it (their ``bin/runwright`` imports it from here until reinstalled)."""
    from runwright.integrations.cli import console as entry

    entry()


if __name__ == "__main__":
    console()
