"""Who may do what: Django's model permissions on runwright's Execution."""

from __future__ import annotations

from typing import Any

VIEW = "runwright.view_execution"
CANCEL = "runwright.cancel_execution"
#: A re-run creates an execution.
RERUN = "runwright.add_execution"


def can(user: Any, perm: str) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)
                and user.has_perm(perm))
