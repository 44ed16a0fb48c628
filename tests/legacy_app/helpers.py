"""What the legacy API's tests share."""

from __future__ import annotations

from typing import Any

SECRET = "hunter2-secret"


def full_log(row: Any) -> bytes:
    """Every byte stored for ``row`` (runwright's chunk table), in order."""
    from runwright.logging_core.django_store import DjangoStore

    store = DjangoStore(type(row))
    return b"".join(c.data for c in store.read_log(row.pk))
