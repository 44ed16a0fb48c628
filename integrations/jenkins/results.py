"""Jenkins build results, mapped to runwright's statuses with one explicit table."""

from __future__ import annotations

from runwright.runners import Exit, Status

#: Every result Jenkins documents (hudson.model.Result), what it means for the run, and why.
#: ABORTED is decided by who stopped the build (see ``exit_for``).
RESULTS: dict[str, tuple[Status, str | None]] = {
    "SUCCESS": (Status.SUCCESS, None),
    "UNSTABLE": (Status.FAILED, "the build is unstable (UNSTABLE: it ran, but tests or checks failed)"),
    "FAILURE": (Status.FAILED, "the build failed (FAILURE)"),
    "NOT_BUILT": (Status.FAILED, "the build was not built (NOT_BUILT: nothing ran)"),
}


def exit_for(result: str | None, *, stopped_by_us: bool, metadata: dict[str, object]) -> Exit:
    """How a finished build ended, as an Exit (no exit code: a build has a result)."""
    metadata = {**metadata, "result": result}
    if result == "ABORTED":
        if stopped_by_us:
            return Exit(status=Status.CANCELLED, reason="the build was stopped on request", metadata=metadata)
        return Exit(status=Status.FAILED, reason="the build was aborted on the server (ABORTED)", metadata=metadata)
    known = RESULTS.get(str(result))
    if known is None:
        return Exit(error=f"Jenkins reported a build result this runner does not know: {result!r}", metadata=metadata)
    status, reason = known
    return Exit(status=status, reason=reason, metadata=metadata)


__all__ = ["RESULTS", "exit_for"]
