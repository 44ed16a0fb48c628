"""The runner contract: what to run (RunSpec), how it ended (RunResult), the status model,
the Runner base class, the event interface runners report to, and the registry."""

from runners.base import Exit, RunContext, Runner, RunnerError
from runners.cancel import CancelToken
from runners.events import MemoryRecorder, NullReporter, RunReporter
from runners.exitcodes import describe_exit, explain_exit_code
from runners.registry import UnknownRunner, available_runners, get_runner, get_runner_class
from runners.result import RunResult
from runners.spec import RunSpec, SpecError
from runners.status import ACTIVE, TERMINAL, IllegalTransition, Status, can_transition

__all__ = [
    "ACTIVE", "TERMINAL", "CancelToken", "Exit", "IllegalTransition", "MemoryRecorder",
    "NullReporter", "RunContext", "RunReporter", "RunResult", "RunSpec", "Runner", "RunnerError",
    "SpecError", "Status", "UnknownRunner", "available_runners", "can_transition", "describe_exit",
    "explain_exit_code", "get_runner", "get_runner_class", "run",
]


def run(
    spec: RunSpec, reporter: RunReporter | None = None, cancel: CancelToken | None = None
) -> RunResult:
    """Run ``spec`` with the runner it names. The shortest way to run something."""
    return get_runner(spec.runner).run(spec, reporter, cancel)
