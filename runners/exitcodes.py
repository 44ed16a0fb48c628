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


#: A shell reports work ended by signal N as exit code 128 + N (SIGTERM: 143).
SHELL_SIGNAL_BASE = 128
#: Signal numbers run 1-64 on Linux (real-time signals included).
_MAX_SIGNAL = 64


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15; ``"signal 99"`` for a number that names no signal here."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def signal_number(name: str) -> int | None:
    """15 for ``"SIGTERM"``; None for a name that is no signal here."""
    try:
        return int(signal.Signals[name])
    except KeyError:
        return None


def shell_code(signum: int) -> int:
    """The exit code a shell gives work ended by signal ``signum``: 128 + N."""
    return SHELL_SIGNAL_BASE + signum


def signal_of_shell_code(code: int | None) -> int | None:
    """The signal N of a shell-style exit code 128 + N (129 to 192); None for any other code."""
    if code is not None and SHELL_SIGNAL_BASE < code <= SHELL_SIGNAL_BASE + _MAX_SIGNAL:
        return code - SHELL_SIGNAL_BASE
    return None


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
    signum = signal_of_shell_code(code)
    if signum is not None:
        return f"ended by {signal_name(signum)} ({SHELL_SIGNAL_BASE} + {signum})"
    return ""


def describe_exit(code: int | None) -> str:
    """``'exit code 127 (command not found)'`` and the like."""
    if code is None:
        return "no exit code"
    why = explain_exit_code(code)
    return f"exit code {code}" + (f" ({why})" if why else "")
