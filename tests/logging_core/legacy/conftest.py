from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runwright.logging_core import legacy
from tests.legacy_app.helpers import SECRET


@pytest.fixture(autouse=True)
def legacy_core() -> Iterator[Any]:
    """The class-level API records through a logger with a known secret; restored after."""
    before, secrets = legacy._core, getattr(legacy, "_secrets", None)
    core = legacy.configure(secrets=[SECRET])
    yield core
    legacy._core, legacy._secrets = before, secrets
