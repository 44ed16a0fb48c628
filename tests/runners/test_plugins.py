"""Plugins that break the contract or clash by name: one clear error, never a traceback,
from the library, the ExecutionLogger and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runwright.logging_core import ExecutionLogger, MemoryStore
from runwright.runners import (
    CancelToken,
    Exit,
    MemoryRecorder,
    RunContext,
    Runner,
    RunnerConflict,
    RunnerContractError,
    RunSpec,
    Status,
    Stop,
    available_runners,
    get_runner_class,
    registry,
    run,
)

BIN = str(Path(sys.executable).parent / "runwright")

PLUGINS = '''
from runwright.runners import Exit, Runner, Stop


class Base(Runner):
    def start(self, ctx):
        pass

    def stream(self, ctx):
        pass

    def wait(self, ctx):
        return Exit(exit_code=0)

    def terminate(self, ctx, grace):
        return Stop(True, "nothing to stop")


class SpecStart(Base):
    name = "spec-start"

    def start(self, spec):
        spec.argv


class GeneratorStream(Base):
    name = "gen-stream"

    def stream(self, ctx):
        yield b"never seen"


class IntWait(Base):
    name = "int-wait"

    def wait(self, ctx):
        return 0


class OldOptions(Base):
    name = "old-options"
    option_types = {"colour": str}


def not_a_runner():
    pass


class Twice(Base):
    name = "twice"
'''


def _distribution(site: Path, name: str, entry_points: dict[str, str]) -> None:
    """An installed distribution as importlib.metadata sees it: a .dist-info with entry points."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
    (info / "entry_points.txt").write_text(f"[runwright.runners]\n{lines}")


@pytest.fixture(scope="module")
def plugins(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    site = tmp_path_factory.mktemp("site")
    (site / "rw_broken_plugins.py").write_text(textwrap.dedent(PLUGINS))
    _distribution(site, "rw-broken", {
        "spec-start": "rw_broken_plugins:SpecStart", "gen-stream": "rw_broken_plugins:GeneratorStream",
        "int-wait": "rw_broken_plugins:IntWait", "old-options": "rw_broken_plugins:OldOptions",
        "not-a-runner": "rw_broken_plugins:not_a_runner", "twice": "rw_broken_plugins:Twice",
        "missing-module": "rw_no_such_module:Runner",
    })
    _distribution(site, "rw-other", {"twice": "rw_broken_plugins:Twice"})
    sys.path.insert(0, str(site))
    registry._loaded.clear()
    yield site
    sys.path.remove(str(site))
    registry._loaded.clear()
    sys.modules.pop("rw_broken_plugins", None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("spec-start", "runner 'spec-start' breaks the contract: start(self, spec) has the wrong signature"),
        ("gen-stream", "runner 'gen-stream' breaks the contract: stream is a generator"),
        ("old-options", "runner 'old-options' breaks the contract: option_types was replaced by options"),
        ("not-a-runner", "runner 'not-a-runner' breaks the contract: its entry point rw_broken_plugins:not_a_runner "
                         "is not a subclass of runwright.runners.Runner"),
        ("missing-module", "runner 'missing-module' breaks the contract: its entry point rw_no_such_module:Runner "
                           "cannot be loaded: ModuleNotFoundError"),
    ],
)
def test_a_runner_that_breaks_the_contract_is_one_clear_error(plugins, name: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RunnerContractError) as info:
        get_runner_class(name)
    assert str(info.value).startswith(message)
    rec = MemoryRecorder()
    result = run(RunSpec(["x"], runner=name), rec)  # the library: an error result, not an exception
    assert result.status == Status.ERROR and result.error.startswith(message)
    assert rec.kinds() == ["finished"]
    logger = ExecutionLogger(MemoryStore(), structured_log=False, metrics=False)
    recorded = logger.run(RunSpec(["x"], runner=name))
    assert recorded.status == Status.ERROR and logger.get(1).error_message.startswith(message)


def test_wrong_return_type_from_wait_is_an_error_result_naming_it(plugins) -> None:  # type: ignore[no-untyped-def]
    result = run(RunSpec(["x"], runner="int-wait"))
    assert result.status == Status.ERROR
    assert result.error == "runner 'int-wait' breaks the contract: wait() returned int, expected an Exit"


def test_a_name_registered_by_two_distributions_names_both(plugins) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RunnerConflict) as info:
        get_runner_class("twice")
    assert "runner name 'twice' is registered by 2 distributions: " in str(info.value)
    assert "rw-broken (rw_broken_plugins:Twice)" in str(info.value) and "rw-other (rw_broken_plugins:Twice)" in str(info.value)
    result = run(RunSpec(["x"], runner="twice"))
    assert result.status == Status.ERROR and "registered by 2 distributions" in result.error
    assert " | " in available_runners()["twice"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("spec-start", "runwright: runner 'spec-start' breaks the contract: start(self, spec) has the wrong signature"),
        ("twice", "runwright: runner name 'twice' is registered by 2 distributions: rw-broken"),
    ],
)
def test_cli_says_it_in_one_line_with_exit_code_3(plugins, tmp_path, name: str, message: str) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ, RUNWRIGHT_HOME=str(tmp_path), PYTHONPATH=str(plugins), COLUMNS="300")
    for args in (["run", "-r", name, "--", "x"], ["runners", name]):
        out = subprocess.run([BIN, *args], env=env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 3, out.stderr
        assert out.stderr.startswith(message) and len(out.stderr.strip().splitlines()) == 1, out.stderr
    listing = subprocess.run([BIN, "runners"], env=env, capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and f"{name}\t" in listing.stdout and "unusable: " in listing.stdout


def test_cli_shows_a_runners_options_and_names_a_bad_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = dict(os.environ, RUNWRIGHT_HOME=str(tmp_path), COLUMNS="300")
    shown = subprocess.run([BIN, "runners", "docker"], env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0
    assert "image           string, required: Image to run" in shown.stdout
    assert "when its worker dies: reattach" in shown.stdout
    table = subprocess.run([BIN, "runners", "local", "--markdown"], env=env, capture_output=True, text=True, timeout=60)
    assert table.stdout.splitlines()[:3] == [
        "| option | type | default | what it does |", "|---|---|---|---|",
        "| `keep_background` | bool | `false` | Leave processes the command started in the background running when it exits. |",
    ]
    helped = subprocess.run([BIN, "run", "-r", "docker", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "keep_container" in helped.stdout and "--timeout" in helped.stdout
    bad = subprocess.run([BIN, "run", "-r", "local", "-o", "read_size=big", "--", "true"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2
    assert bad.stderr.strip() == "runwright: options.read_size: must be int, got str (see `runwright runners local`)"


class _Steps(Runner):
    name = "steps"

    def start(self, ctx: RunContext) -> None:
        ctx.set_handle({"step": "started"})

    def stream(self, ctx: RunContext) -> None:
        ctx.emit("stdout", b"out\n")

    def wait(self, ctx: RunContext) -> Exit:
        return Exit(exit_code=0)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        return Stop(True, "stopped")


def test_a_slow_prepare_is_under_the_deadline_and_the_cancel_token() -> None:
    # Regression: a prepare of 3 s with timeout=1 ended at 4 s, and a cancel during it was ignored.
    release = threading.Event()

    class SlowPrepare(_Steps):
        def prepare(self, ctx: RunContext) -> None:
            release.wait(30)  # a blocking SDK call that does not look at the token

    try:
        t0 = time.monotonic()
        result = SlowPrepare().run(RunSpec(["x"], timeout=1, grace_period=0))
        assert result.status == Status.TIMEOUT and "timed out after 1s" in result.error
        assert time.monotonic() - t0 < 30, "the run must not wait for the blocked prepare"
        cancel = CancelToken()
        cancel.cancel("operator")
        assert SlowPrepare().run(RunSpec(["x"]), cancel=cancel).status == Status.CANCELLED
    finally:
        release.set()


def test_an_unconfirmed_stop_is_said_and_not_counted_as_stopped() -> None:
    class Stubborn(_Steps):
        def stream(self, ctx: RunContext) -> None:
            ctx.cancel.wait()

        def terminate(self, ctx: RunContext, grace: float) -> Stop:
            return Stop(False, "the remote build did not answer the abort")

    cancel = CancelToken()
    rec = MemoryRecorder()
    threading.Thread(target=lambda: (rec_started(rec), cancel.cancel("operator")), daemon=True).start()
    result = Stubborn().run(RunSpec(["x"], grace_period=0), rec, cancel)
    assert result.status == Status.CANCELLED
    assert result.metadata["stop_confirmed"] is False
    assert "the remote build did not answer the abort (stop not confirmed: left to the sweep)" in result.error


def rec_started(rec: MemoryRecorder) -> None:
    deadline = time.monotonic() + 30
    while "started" not in rec.kinds() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_secrets_learned_at_run_time_events_and_metadata_are_reported_at_once_and_masked() -> None:
    token = "ghp_generated-at-run-time"
    delivered_while_running: list[bool] = []

    class Learns(_Steps):
        def stream(self, ctx: RunContext) -> None:
            ctx.emit("stdout", f"before {token}\n".encode())
            ctx.add_secret(token)
            ctx.emit("stdout", f"after {token}\n".encode())
            ctx.event("token.issued", {"token": token, "n": 1})
            # Delivered while the run goes on (by the thread that called run), not at the end:
            deadline = time.monotonic() + 30
            while "event" not in rec.kinds() and time.monotonic() < deadline:
                time.sleep(0.01)
            delivered_while_running.append("event" in rec.kinds())
            ctx.set_metadata(pod=f"pod-{token}")

    rec = MemoryRecorder()
    result = Learns().run(RunSpec(["x"]), rec)
    assert result.ok
    assert rec.stdout == f"before {token}\nafter ***\n".encode()  # from then on, not retroactively
    assert rec.events() == [("token.issued", {"token": "***", "n": 1})]
    assert delivered_while_running == [True]
    assert ("metadata", {"pod": "pod-***"}) in rec.calls and result.metadata["pod"] == "pod-***"
    assert rec.kinds()[:2] == ["handle", "started"] and result.metadata["handle"] == {"step": "started"}


def _built_in_runners() -> list[str]:
    """Every runner this package registers (pyproject's entry points), so a new one is covered."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    return sorted(project["project"]["entry-points"]["runwright.runners"])


@pytest.mark.parametrize("name", _built_in_runners())
def test_the_docs_option_tables_are_the_generated_ones(name: str) -> None:
    # Regression: only 5 of the 8 built-ins were checked, and the Jenkins table in
    # docs/remote-ci.md had gone stale (it lacked `tag_parameter`).
    from runwright.runners.options import markdown_table

    root = Path(__file__).resolve().parents[2]
    docs = "\n".join(p.read_text() for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))])
    assert markdown_table(get_runner_class(name).options) in docs, f"regenerate with `runwright runners {name} --markdown`"


def test_command_none_runner_and_secret_options() -> None:
    from runwright.runners import Option

    class Playbook(_Steps):
        name = "playbook"
        command = "none"
        options = (Option("playbook", str, required=True, help="What to run."),
                   Option("vault", str, secret=True, help="Vault password."))

        def stream(self, ctx: RunContext) -> None:
            ctx.emit("stdout", f"running {ctx.options['playbook']} with {ctx.options['vault']}\n".encode())
            ctx.event("play", {"vault": ctx.options["vault"]})

    rec = MemoryRecorder()
    result = Playbook().run(RunSpec(runner="playbook", options={"playbook": "site.yml", "vault": "open-sesame-42"}), rec)
    assert result.ok and rec.stdout == b"running site.yml with ***\n" and rec.events() == [("play", {"vault": "***"})]
    refused = Playbook().run(RunSpec(["site.yml"], runner="playbook", options={"playbook": "site.yml"}))
    assert refused.status == Status.ERROR
    assert refused.error == "invalid spec: command: must be empty: the playbook runner takes what to run from its options"
    missing = Playbook().run(RunSpec(runner="playbook"))
    assert missing.error == "invalid spec: options.playbook: is required for the playbook runner"


def test_a_cleanup_that_hangs_after_a_stop_is_abandoned_and_said() -> None:
    # Regression (break-it, issue 8): a cleanup that hung held the run 30 s past its timeout.
    from runwright.runners import Exit, Runner, Stop

    release, finished = threading.Event(), threading.Event()

    class StuckCleanup(Runner):
        name = "stuck-cleanup"
        command = "none"
        cleanup_seconds = 0.5

        def start(self, ctx: RunContext) -> None:
            pass

        def stream(self, ctx: RunContext) -> None:
            ctx.wait_stop()  # until the timeout

        def wait(self, ctx: RunContext) -> Exit:
            return Exit(exit_code=0)

        def terminate(self, ctx: RunContext, grace: float) -> Stop:
            return Stop(True, "nothing to stop")

        def cleanup(self, ctx: RunContext) -> None:
            release.wait(120)  # stuck until the test lets it go
            finished.set()

    try:
        result = StuckCleanup().run(RunSpec(runner="stuck-cleanup", timeout=0.5, grace_period=0.5))
        returned_while_stuck = not finished.is_set()
    finally:
        release.set()
    assert returned_while_stuck, "the run waited for the stuck cleanup"
    assert result.status == Status.TIMEOUT
    assert "cleanup did not return within" in result.metadata["cleanup_error"]


def test_exit_metadata_that_is_not_json_is_a_contract_error() -> None:
    # Regression (break-it, issue 8): Exit(metadata={"o": object()}) ended `success` with an
    # object no store can keep.
    from runwright.runners import Exit, Runner, Stop

    class OddMetadata(Runner):
        name = "odd-metadata"
        command = "none"

        def start(self, ctx: RunContext) -> None:
            pass

        def stream(self, ctx: RunContext) -> None:
            pass

        def wait(self, ctx: RunContext) -> Exit:
            return Exit(exit_code=0, metadata={"o": object()})

        def terminate(self, ctx: RunContext, grace: float) -> Stop:
            return Stop(True, "nothing to stop")

    result = OddMetadata().run(RunSpec(runner="odd-metadata"))
    assert result.status == Status.ERROR
    assert "breaks the contract" in (result.error or "") and "JSON" in (result.error or "")
