"""Runners are found by name through the entry-point group ``runwright.runners``.

The built-in runners are registered in runwright's own package metadata exactly like a
third-party package registers its own, so there is one way to find a runner.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from runners.base import Runner

GROUP = "runwright.runners"


class UnknownRunner(LookupError):
    def __init__(self, name: str, installed: list[str]) -> None:
        self.name, self.installed = name, installed
        listing = ", ".join(installed) if installed else "none (is runwright installed?)"
        super().__init__(f"unknown runner {name!r}; installed runners: {listing}")


def _entry_points() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        found.setdefault(ep.name, ep)
    return found


def available_runners() -> dict[str, str]:
    """Installed runner names and where each comes from (``module:Class``)."""
    return {name: ep.value for name, ep in sorted(_entry_points().items())}


_loaded: dict[str, type[Runner]] = {}


def get_runner_class(name: str) -> type[Runner]:
    """The runner class registered as ``name``. Loaded classes are cached (scanning the
    installed packages costs milliseconds); an unknown name always rescans, so a package
    installed while the process runs is found."""
    cached = _loaded.get(name)
    if cached is not None:
        return cached
    eps = _entry_points()
    if name not in eps:
        raise UnknownRunner(name, sorted(eps))
    cls = eps[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Runner)):
        raise TypeError(f"entry point {name!r} ({eps[name].value}) is not a runwright Runner subclass")
    _loaded[name] = cls
    return cls


def get_runner(name: str) -> Runner:
    return get_runner_class(name)()
