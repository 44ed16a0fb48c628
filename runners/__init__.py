"""The runner contract: what to run (RunSpec), how it ended (RunResult), the status model,
the Runner base class and its hooks, the event interface runners report to, and the registry."""

from runwright.runners.base import Exit, RecordingStopped, Runner, RunnerError
from runwright.runners.cancel import CancelToken
from runwright.runners.conformance import RunnerContractError, RunnerLoadError, contract_problems
from runwright.runners.context import RunContext
from runwright.runners.events import STREAMS, MemoryRecorder, NullReporter, RunReporter, Stream
from runwright.runners.exitcodes import describe_exit, explain_exit_code
from runwright.runners.hooks import Liveness, OnWorkerLost, Stop
from runwright.runners.options import Option, worker_lost_option
from runwright.runners.registry import (
    RunnerConflict,
    UnknownRunner,
    available_runners,
    get_runner,
    get_runner_class,
    runner_classes,
)
from runwright.runners.result import RunResult
from runwright.runners.spec import RunSpec, SpecError
from runwright.runners.status import ACTIVE, TERMINAL, Status, can_transition

__all__ = [
    "ACTIVE", "STREAMS", "TERMINAL", "CancelToken", "Exit", "Liveness", "MemoryRecorder",
    "NullReporter", "OnWorkerLost", "Option", "RecordingStopped", "RunContext", "RunReporter", "RunResult", "RunSpec", "Runner",
    "RunnerConflict", "RunnerContractError", "RunnerError", "RunnerLoadError", "SpecError", "Status", "Stop", "Stream",
    "UnknownRunner", "available_runners", "can_transition", "contract_problems", "describe_exit",
    "explain_exit_code", "get_runner", "get_runner_class", "run", "runner_classes", "worker_lost_option",
]


def run(
    spec: RunSpec, reporter: RunReporter | None = None, cancel: CancelToken | None = None
) -> RunResult:
    """Run ``spec`` with the runner it names. The shortest way to run something.
    Raises UnknownRunner for a runner that is not installed."""
    return get_runner(spec.runner).run(spec, reporter, cancel)
