"""Unmasked specs at rest, encrypted: a group child's spec is stored sealed on its own row,
so its message (and its siblings') carry only ids.

Sealed by ``runwright.logging_core.sealing`` (Fernet, a key derived from the deployment's
secret key): every process that submits or runs group children must share that key.
"""

from __future__ import annotations

import json
from typing import Any

from runwright.logging_core import sealing
from runwright.runners.spec import RunSpec, SpecError

_PURPOSE = b"runwright sealed spec v1"


class SealError(SpecError):
    """A sealed spec that cannot be opened (another secret key, a damaged token)."""


def seal(spec: RunSpec) -> str:
    """The unmasked spec as a Fernet token (text)."""
    return sealing.seal(json.dumps(spec.to_dict(redact=False), separators=(",", ":")).encode(), _PURPOSE)


def unseal(token: str) -> RunSpec:
    try:
        data = sealing.unseal(token, _PURPOSE)
    except sealing.SealError:
        raise SealError("spec", "the stored spec cannot be opened with this process's secret key "
                                "(RUNWRIGHT_SECRET_KEY / SECRET_KEY must be the same for every process)") from None
    return RunSpec.from_dict(json.loads(data))


def open_spec(execution_id: Any) -> RunSpec:
    """The unmasked spec sealed on execution ``execution_id``'s row."""
    from runwright.integrations.celery.worker_logger import worker_logger
    from runwright.logging_core.store import NotFound

    try:
        token = worker_logger().store.read_fields(execution_id, "sealed_spec")["sealed_spec"]
    except NotFound:
        token = None
    if not token:
        raise SealError("spec", f"execution {execution_id} has no stored spec to run")
    return unseal(token)
