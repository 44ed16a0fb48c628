"""Well-known exit codes explained in words, for error messages a person can act on."""

from __future__ import annotations

import signal

_EXPLAINED: dict[int, str] = {
    1: "general error",
    2: "misuse of a shell builtin or invalid arguments",
    124: "timed out (the `timeout` command's code)",
    125: "the container or wrapper could not run the command",
    126: "the command was found but is not executable (permission denied)",
    127: "command not found",
    130: "interrupted (SIGINT, Ctrl-C)",
    137: "killed with SIGKILL, often by the out-of-memory killer or after a stop's grace period",
    139: "segmentation fault (SIGSEGV)",
    143: "terminated with SIGTERM",
}


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def explain_exit_code(code: int | None) -> str:
    """One phrase that says what an exit code usually means; '' when there is nothing to add.

    Negative codes follow Python's convention (``-9``: killed by signal 9).
    """
    if code is None or code == 0:
        return ""
    if code < 0:
        name = signal_name(-code)
        extra = {9: "killed; often the out-of-memory killer or a forced stop", 15: "terminated"}.get(-code)
        return f"ended by {name}" + (f" ({extra})" if extra else "")
    if code in _EXPLAINED:
        return _EXPLAINED[code]
    if 128 < code < 128 + 65:
        return f"ended by {signal_name(code - 128)} (128 + {code - 128})"
    return ""


def describe_exit(code: int | None) -> str:
    """``'exit code 127 (command not found)'`` and the like."""
    if code is None:
        return "no exit code"
    why = explain_exit_code(code)
    return f"exit code {code}" + (f" ({why})" if why else "")
