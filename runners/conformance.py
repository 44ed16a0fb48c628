"""Checks that a runner class keeps the contract, so a broken plugin gives one clear error
("runner 'x' breaks the contract: ...") instead of a traceback or a silent wrong result."""

from __future__ import annotations

import inspect
from typing import Any

#: Life cycle steps and the parameters each takes after ``self``.
STEPS: dict[str, tuple[str, ...]] = {
    "prepare": ("ctx",), "start": ("ctx",), "attach": ("ctx",), "stream": ("ctx",), "wait": ("ctx",),
    "cleanup": ("ctx",), "terminate": ("ctx", "grace"),
}
#: Class-level hooks and the parameters each takes after ``cls``.
HOOKS: dict[str, tuple[str, ...]] = {"sweep": ("is_active",), "probe": ("handle",), "stop_handle": ("handle", "grace")}
COMMAND_KINDS = ("argv", "none")


class RunnerLoadError(LookupError):
    """A runner cannot be used: unknown, registered twice, or breaking the contract."""


class RunnerContractError(RunnerLoadError):
    """A runner class that breaks the contract; the message names the runner and the rule."""

    def __init__(self, runner: str, problem: str) -> None:
        self.runner, self.problem = runner, problem
        super().__init__(f"runner {runner!r} breaks the contract: {problem}")


def contract_problems(cls: Any) -> list[str]:
    """What ``cls`` does wrong, one short sentence each; empty when it keeps the contract."""
    from runwright.runners.base import Runner
    from runwright.runners.hooks import OnWorkerLost
    from runwright.runners.options import Option

    if not (isinstance(cls, type) and issubclass(cls, Runner)):
        what = cls.__name__ if hasattr(cls, "__name__") else repr(cls)
        return [f"{what} is not a subclass of runwright.runners.Runner"]
    problems: list[str] = []
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    if missing:
        problems.append(f"{cls.__name__} does not implement {', '.join(missing)}")
    for step, params in STEPS.items():
        problem = _step_problem(cls, step, params)
        if problem:
            problems.append(problem)
    for hook, params in HOOKS.items():
        if not isinstance(inspect.getattr_static(cls, hook), classmethod):
            problems.append(f"{hook} must be a classmethod: @classmethod def {hook}(cls, {', '.join(params)})")
        elif not _accepts(getattr(cls, hook), len(params)):
            problems.append(f"{hook} must accept ({', '.join(params)})")
    if any("option_types" in vars(k) for k in cls.__mro__ if k is not Runner):
        problems.append("option_types was replaced by options = (Option(name, type, ...), ...)")
    options = getattr(cls, "options", ())
    if not isinstance(options, tuple) or not all(isinstance(o, Option) for o in options):
        problems.append("options must be a tuple of runwright.runners.Option")
    else:
        names = [o.name for o in options]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            problems.append(f"options declares {', '.join(duplicated)} twice")
    if getattr(cls, "command", None) not in COMMAND_KINDS:
        problems.append(f"command must be one of {', '.join(map(repr, COMMAND_KINDS))}, got {cls.command!r}")
    if getattr(cls, "on_worker_lost", None) not in set(OnWorkerLost):
        problems.append(f"on_worker_lost must be an OnWorkerLost, got {cls.on_worker_lost!r}")
    if not isinstance(getattr(cls, "watched", True), bool):
        problems.append("watched must be True or False")
    return problems


def _step_problem(cls: type, step: str, params: tuple[str, ...]) -> str | None:
    fn = inspect.getattr_static(cls, step)
    if isinstance(fn, (classmethod, staticmethod)):
        return f"{step} must be an instance method: def {step}(self, {', '.join(params)})"
    if not callable(fn):
        return f"{step} is not a method"
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        return (f"{step} is a generator (it uses yield), so its body would never run; "
                f"call ctx.emit(stream, data) for each chunk instead")
    if inspect.iscoroutinefunction(fn):
        return f"{step} is async; life-cycle steps are plain methods (run an event loop inside if you need one)"
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    positional = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional[1:] if p.default is p.empty]
    takes_var = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
    wanted = f"def {step}(self, {', '.join(params)})"
    if len(required) > len(params) or (len(positional) - 1 < len(params) and not takes_var):
        shown = ", ".join(p.name for p in positional)
        return f"{step}({shown}) has the wrong signature; expected {wanted}"
    first = positional[1] if len(positional) > 1 else None
    if first is not None and not _is_context_param(first):
        shown = ", ".join(p.name for p in positional)
        return f"{step}({shown}) has the wrong signature: every step takes the RunContext; expected {wanted}"
    return None


def _is_context_param(param: inspect.Parameter) -> bool:
    annotation = param.annotation
    if annotation is param.empty:
        return param.name in ("ctx", "context")
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return "RunContext" in text


def _accepts(fn: Any, count: int) -> bool:
    try:
        inspect.signature(fn).bind(*([None] * count))
    except TypeError:
        return False
    except ValueError:
        return True
    return True


__all__ = ["RunnerContractError", "RunnerLoadError", "contract_problems"]
