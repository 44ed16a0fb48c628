"""Runners are found by name through the entry-point group ``runwright.runners``.

The built-in runners are registered in runwright's own package metadata exactly like a
third-party package registers its own, so there is one way to find a runner, and the hooks
(``sweep``, ``probe``, ``stop_handle``, ``on_worker_lost``) are reached through the class the
registry returns, never by importing a concrete runner.

A name registered by two distributions, or a class that breaks the contract, is an error
that says so (``RunnerConflict``, ``RunnerContractError``); ``get_runner`` hands back a
stand-in whose runs end ``error`` with that message, so a library run never raises for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from runwright.runners.base import Exit, RunContext, Runner, RunnerError, _contract_problem
from runwright.runners.conformance import RunnerContractError, RunnerLoadError
from runwright.runners.hooks import Stop
from runwright.runners.spec import RunSpec

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "runwright.runners"


class UnknownRunner(RunnerLoadError):
    def __init__(self, name: str, installed: list[str]) -> None:
        self.name, self.installed = name, installed
        listing = ", ".join(installed) if installed else "none (is runwright installed?)"
        super().__init__(f"unknown runner {name!r}; installed runners: {listing}")


class RunnerConflict(RunnerLoadError):
    """One runner name registered by two (or more) distributions."""

    def __init__(self, name: str, sources: list[tuple[str, str]]) -> None:
        self.name, self.sources = name, sources
        both = " and ".join(f"{dist} ({value})" for dist, value in sources)
        super().__init__(f"runner name {name!r} is registered by {len(sources)} distributions: {both}; "
                         "uninstall one of them")


def _scan() -> dict[str, list[EntryPoint]]:
    # Imported here: package metadata costs some 13 ms of start-up that a command reading the
    # store (`runwright list`) never needs.
    from importlib.metadata import entry_points

    found: dict[str, list[EntryPoint]] = {}
    for ep in entry_points(group=GROUP):
        same = found.setdefault(ep.name, [])
        if not any(_dist(e) == _dist(ep) for e in same):
            same.append(ep)
    return found


def _dist(ep: EntryPoint) -> str:
    dist = ep.dist
    return dist.name if dist is not None else f"<unknown distribution of {ep.value}>"


def available_runners() -> dict[str, str]:
    """Installed runner names and where each comes from (``module:Class``; a name
    registered twice lists both, separated by " | ")."""
    return {name: " | ".join(ep.value for ep in eps) for name, eps in sorted(_scan().items())}


_loaded: dict[str, type[Runner]] = {}


def get_runner_class(name: str) -> type[Runner]:
    """The runner class registered as ``name``.

    Raises UnknownRunner (not installed), RunnerConflict (registered by two distributions)
    or RunnerContractError (the class breaks the contract; the message says how). Loaded
    classes are cached; an unknown name always rescans, so a package installed while the
    process runs is found.
    """
    cached = _loaded.get(name)
    if cached is not None:
        return cached
    eps = _scan()
    if name not in eps:
        raise UnknownRunner(name, sorted(eps))
    if len(eps[name]) > 1:
        raise RunnerConflict(name, [(_dist(ep), ep.value) for ep in eps[name]])
    ep = eps[name][0]
    try:
        cls = ep.load()
    except Exception as exc:
        raise RunnerContractError(name, f"its entry point {ep.value} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Runner)):
        raise RunnerContractError(name, f"its entry point {ep.value} is not a subclass of runwright.runners.Runner")
    problem = _contract_problem(cls)
    if problem:
        raise RunnerContractError(name, problem.split("breaks the contract: ", 1)[1])
    _loaded[name] = cls
    return cls


def get_runner(name: str) -> Runner:
    """An instance of the runner registered as ``name``. Raises UnknownRunner; a runner
    that is registered twice or breaks the contract is returned as a stand-in whose runs end
    ``error`` with the reason."""
    try:
        return get_runner_class(name)()
    except (RunnerConflict, RunnerContractError) as exc:
        return UnusableRunner(name, str(exc))


def runner_classes() -> dict[str, type[Runner] | RunnerLoadError]:
    """Every installed runner's class, or the error that keeps it from being used; for the
    reaper's sweep and the CLI's listing."""
    out: dict[str, type[Runner] | RunnerLoadError] = {}
    for name in sorted(_scan()):
        try:
            out[name] = get_runner_class(name)
        except RunnerLoadError as exc:
            out[name] = exc
    return out


class UnusableRunner(Runner):
    """Stands in for a runner that cannot be used: every run ends ``error`` with the reason."""

    watched = False

    def __init__(self, name: str, reason: str) -> None:
        self.name = name  # type: ignore[misc]
        self.reason = reason

    def validate(self, spec: RunSpec) -> None:
        pass

    def start(self, ctx: RunContext) -> None:
        raise RunnerError(self.reason)

    def stream(self, ctx: RunContext) -> None:
        pass

    def wait(self, ctx: RunContext) -> Exit:
        return Exit(error=self.reason)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        return Stop(True, "nothing was started")


__all__ = ["GROUP", "RunnerConflict", "RunnerContractError", "UnknownRunner", "UnusableRunner", "available_runners",
           "get_runner", "get_runner_class", "runner_classes"]
