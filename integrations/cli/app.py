"""The ``runwright`` command line: run, list, show, logs, runners."""

from __future__ import annotations

import json
import signal
import sys
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from runners.cancel import CancelToken
from runners.events import NullReporter, Stream
from runners.result import RunResult
from runners.spec import RunSpec, SpecError
from runners.status import Status

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Run commands anywhere and record every run.")
err = Console(stderr=True, highlight=False)

#: Exit codes of `runwright run` when the command's own code does not apply.
EXIT_TIMEOUT, EXIT_CANCELLED, EXIT_COULD_NOT_RUN = 124, 130, 125


class CliError(Exception):
    """Bad input: one clear line, no traceback."""


def fail(message: str, code: int = 2) -> NoReturn:
    err.print(f"[bold red]runwright:[/] {escape(message)}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _logger() -> Any:
    from integrations.django import setup
    from logging_core import ExecutionLogger

    setup()
    return ExecutionLogger()


def parse_pairs(option: str, values: list[str]) -> dict[str, str]:
    out = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"{option} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


class ConsoleEcho(NullReporter):
    """Writes output to this terminal as it arrives, stdout to stdout, the rest to stderr."""

    def output(self, stream: Stream, data: bytes) -> None:
        target = sys.stdout.buffer if stream == "stdout" else sys.stderr.buffer
        target.write(data)
        target.flush()


def exit_code_for(result: RunResult) -> int:
    if result.status == Status.TIMEOUT:
        return EXIT_TIMEOUT
    if result.status == Status.CANCELLED:
        return EXIT_CANCELLED
    if result.status in (Status.ERROR, Status.LOST) or result.exit_code is None:
        return EXIT_COULD_NOT_RUN
    return result.exit_code if result.exit_code >= 0 else 128 - result.exit_code


def parse_options(values: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` runner options; a VALUE that parses as JSON is taken as JSON."""
    options: dict[str, Any] = {}
    for key, raw in parse_pairs("--option", values).items():
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def build_spec(
    command: list[str], runner: str, timeout: float | None, env: list[str], secret: list[str], cwd: str | None,
    shell: bool = False, labels: list[str] | None = None, options: list[str] | None = None,
) -> RunSpec:
    if not command:
        raise CliError("no command given; usage: runwright run [OPTIONS] -- CMD [ARGS]...")
    env_map = parse_pairs("--env", env)
    secret_map = parse_pairs("--secret", secret)
    env_map.update(secret_map)
    return RunSpec(
        command=" ".join(command) if shell else command, shell=shell, runner=runner, timeout=timeout,
        env=env_map, secret_env=sorted(secret_map), cwd=cwd, labels=parse_pairs("--label", labels or []),
        options=parse_options(options or []),
    )


def checked_spec(*args: Any) -> RunSpec:
    """build_spec, then the runner's own validation; bad input ends the command with one line."""
    from runners.registry import UnknownRunner, get_runner_class

    try:
        spec = build_spec(*args)
        get_runner_class(spec.runner)().validate(spec)
    except (CliError, SpecError, UnknownRunner) as exc:
        fail(str(exc))
    return spec


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


@app.command(context_settings={"allow_interspersed_args": False})
def run(
    command: Annotated[list[str] | None, typer.Argument(help="The command and its arguments, after --.")] = None,
    runner: RunnerOpt = "local", timeout: TimeoutOpt = None, env: EnvOpt = None, secret: SecretOpt = None,
    cwd: CwdOpt = None, label: LabelOpt = None, shell: ShellOpt = False, option: OptionOpt = None,
) -> None:
    """Run a command, stream its output live, record it; exit with its exit code."""
    spec = checked_spec(command or [], runner, timeout, env or [], secret or [], cwd, shell, label, option)
    logger = _logger()
    cancel = CancelToken()
    signal.signal(signal.SIGINT, lambda *_: cancel.cancel("interrupted (SIGINT)"))
    signal.signal(signal.SIGTERM, lambda *_: cancel.cancel("terminated (SIGTERM)"))
    ref = logger.create(spec)
    result = logger.run(spec, ref, cancel=cancel, tee=ConsoleEcho())
    summarise_and_exit(ref, result)


def summarise_and_exit(ref: Any, result: RunResult) -> None:
    """The one-line summary on stderr, then exit with the code `run` promises."""
    duration = f"{result.duration:.2f}s" if result.duration is not None else "-"
    colour = "green" if result.ok else "red"
    summary = f"runwright: execution {ref} [{colour}]{result.status}[/] in {duration}, exit code {result.exit_code}"
    if result.error and not result.ok:
        summary += f": {escape(result.error)}"
    err.print(summary, markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(exit_code_for(result))


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    runner: Annotated[str | None, typer.Option(help="Only this runner.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """List recent executions, newest first."""
    if status is not None and status not in {s.value for s in Status}:
        fail(f"--status {status!r}: expected one of {', '.join(s.value for s in Status)}")
    rows = _logger().list(status=status, runner=runner, limit=limit)
    if as_json:
        for row in rows:
            typer.echo(json.dumps(_view_dict(row)))
        return
    table = Table("id", "status", "runner", "command", "exit", "started", "duration")
    for row in rows:
        table.add_row(
            str(row.id), str(row.status), row.runner, row.command[:60],
            "" if row.exit_code is None else str(row.exit_code),
            row.started_at.strftime("%Y-%m-%d %H:%M:%S") if row.started_at else "",
            f"{row.duration:.2f}s" if row.duration is not None else "",
        )
    Console().print(table)


def _view_dict(view: Any) -> dict[str, Any]:
    data = {k: v for k, v in vars(view).items() if k != "result"}
    data["status"] = str(view.status)
    data["duration"] = view.duration
    return json.loads(json.dumps(data, default=str))  # type: ignore[no-any-return]


def _existing(logger: Any, execution_id: str) -> Any:
    from logging_core import NotFound

    try:
        return logger.get(int(execution_id))
    except (NotFound, ValueError):
        fail(f"no execution with id {execution_id!r}")


@app.command()
def show(
    execution_id: Annotated[str, typer.Argument(metavar="ID")],
    as_json: Annotated[bool, typer.Option("--json", help="The RunResult as JSON.")] = False,
) -> None:
    """Show one execution: its RunResult."""
    logger = _logger()
    view = _existing(logger, execution_id)
    result = logger.result_of(view.id)
    if as_json:
        typer.echo(json.dumps({"id": view.id, "command": view.command, **result.to_dict()}, indent=2))
        return
    out = Console()
    out.print(f"[bold]execution {view.id}[/]  {view.runner}: {view.command}")
    out.print(f"status {result.status}  exit code {result.exit_code}  duration {result.duration}")
    if result.error:
        out.print(f"error: {result.error}", markup=False)
    out.print(f"output: {view.stdout_bytes} bytes stdout, {view.stderr_bytes} bytes stderr"
              + (f", {view.dropped_bytes} bytes not stored (limit)" if view.dropped_bytes else ""))


@app.command()
def logs(
    execution_id: Annotated[str, typer.Argument(metavar="ID")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the run ends.")] = False,
    offset: Annotated[int, typer.Option(help="Start at this byte of the log.", min=0)] = 0,
) -> None:
    """Print an execution's log (stdout to stdout, stderr and runwright's lines to stderr)."""
    logger = _logger()
    view = _existing(logger, execution_id)
    chunks = logger.follow(view.id, offset) if follow else logger.iter_log(view.id, offset)
    echo = ConsoleEcho()
    try:
        for chunk in chunks:
            echo.output(chunk.stream, chunk.data)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


@app.command(context_settings={"allow_interspersed_args": False})
def submit(
    command: Annotated[list[str] | None, typer.Argument(help="The command and its arguments, after --.")] = None,
    runner: RunnerOpt = "local", timeout: TimeoutOpt = None, env: EnvOpt = None, secret: SecretOpt = None,
    cwd: CwdOpt = None, label: LabelOpt = None, shell: ShellOpt = False, option: OptionOpt = None,
    queue: Annotated[str | None, typer.Option(help="Celery queue.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the log and exit like `run` does.")] = False,
) -> None:
    """Queue a run for the workers; prints its execution id."""
    spec = checked_spec(command or [], runner, timeout, env or [], secret or [], cwd, shell, label, option)
    from integrations.celery import submit as submit_run

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
    except KeyboardInterrupt:
        from integrations.celery import cancel as cancel_run

        cancel_run(ref, "interrupted (SIGINT)")
        for chunk in logger.follow(ref, logger.store.log_end(ref)):
            echo.output(chunk.stream, chunk.data)
    summarise_and_exit(ref, logger.result_of(ref))


@app.command()
def cancel(execution_id: Annotated[str, typer.Argument(metavar="ID")]) -> None:
    """Cancel an execution: a pending one never starts, a running one is stopped."""
    from integrations.celery import cancel as cancel_run

    logger = _logger()
    view = _existing(logger, execution_id)
    if view.status not in (Status.PENDING, Status.RUNNING):
        fail(f"execution {view.id} is already {view.status}", code=1)
    status = cancel_run(view.id)
    typer.echo(f"execution {view.id}: {'cancel requested' if status == Status.RUNNING else status}")


@app.command()
def group(
    spec_file: Annotated[str, typer.Argument(help="JSON: {\"policy\", \"max_parallel\", \"runs\": [RunSpec, ...]}")],
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the group and exit with 0 on success.")] = False,
) -> None:
    """Queue a parallel group of runs from a spec file; prints the group's execution id."""
    try:
        with open(spec_file) as fh:
            data = json.load(fh)
        if not isinstance(data, dict) or not isinstance(data.get("runs"), list):
            raise CliError(f"{spec_file}: expected an object with a list under \"runs\"")
        specs = []
        for i, item in enumerate(data["runs"]):
            try:
                specs.append(RunSpec.from_dict(item))
            except SpecError as exc:
                raise CliError(f"{spec_file}: runs[{i}].{exc}") from None
        unknown = sorted(set(data) - {"runs", "policy", "max_parallel", "name"})
        if unknown:
            raise CliError(f"{spec_file}: unknown key {unknown[0]!r}")
        from integrations.celery import submit_group

        ref = submit_group(specs, data.get("max_parallel"), data.get("policy", "wait_all"), name=data.get("name", ""))
    except (OSError, ValueError, CliError) as exc:
        fail(str(exc))
    typer.echo(ref)
    if wait:
        import time

        logger = _logger()
        while logger.get(ref).status in (Status.PENDING, Status.RUNNING):
            time.sleep(0.2)
        view = logger.get(ref)
        err.print(f"runwright: group {ref} {view.status}" + (f": {view.error_message}" if view.error_message else ""),
                  markup=False)
        raise typer.Exit(0 if view.status == Status.SUCCESS else 1)


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Runs at once in this worker.")] = 2,
    queues: Annotated[str | None, typer.Option(help="Comma-separated queues (default: runwright).")] = None,
    loglevel: Annotated[str, typer.Option()] = "warning",
) -> None:
    """Start a Celery worker that runs queued executions (RUNWRIGHT_BROKER_URL, DATABASE_URL)."""
    from integrations.django import setup

    setup()
    from integrations.celery.app import get_app, queue_name

    argv = ["worker", f"--concurrency={concurrency}", f"--queues={queues or queue_name()}", f"--loglevel={loglevel}",
            "--without-gossip", "--without-mingle", "--without-heartbeat"]
    get_app().worker_main(argv)


@app.command()
def reap() -> None:
    """One reaper pass: mark runs of dead workers lost, kill what they left behind."""
    from integrations.django import setup

    setup()
    from integrations.celery.reaper import reap_once

    typer.echo(json.dumps(reap_once()))


@app.command()
def runners() -> None:
    """List the installed runners (the `runwright.runners` entry-point group)."""
    from runners.registry import available_runners

    for name, where in available_runners().items():
        typer.echo(f"{name}\t{where}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
