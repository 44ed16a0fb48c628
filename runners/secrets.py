"""Secret detection and masking, shared by everything that lets text leave a run.

A value is secret when the spec names it (``RunSpec.secrets``), when an environment
variable of the spec is named in ``RunSpec.secret_env``, or when that variable's name looks
secret (``PASSWORD``, ``TOKEN``, ...; the patterns come from ``RUNWRIGHT_SECRET_PATTERNS``
when set, a comma-separated list).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

MASK = "***"
DEFAULT_SECRET_PATTERNS = (
    "PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "AUTH", "PRIVATE", "CERT",
    "SESSION", "COOKIE", "DSN",
)
#: Values of variables found by their name only are masked from this length on, so that a
#: ``DEBUG_KEY=1`` does not mask every "1" in the output. Values named secret explicitly are
#: always masked.
MIN_DETECTED_LENGTH = 4


def secret_patterns() -> tuple[str, ...]:
    configured = os.environ.get("RUNWRIGHT_SECRET_PATTERNS")
    if configured:
        return tuple(p.strip().upper() for p in configured.split(",") if p.strip())
    return DEFAULT_SECRET_PATTERNS


def looks_secret(name: str, patterns: Iterable[str] | None = None) -> bool:
    upper = name.upper()
    return any(p in upper for p in (patterns or secret_patterns()))


def secret_values(
    explicit: Iterable[str], env: Mapping[str, str], secret_env: Iterable[str] = ()
) -> list[str]:
    """Every value that must be masked, longest first so that overlapping values mask whole."""
    named = set(secret_env)
    values = {v for v in explicit if v}
    for name, value in env.items():
        if (name in named and value) or (looks_secret(name) and len(value) >= MIN_DETECTED_LENGTH):
            values.add(value)
    return sorted(values, key=len, reverse=True)


class Redactor:
    """Masks known secret values in text and bytes."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self.values = sorted({v for v in values if v}, key=len, reverse=True)
        self._bytes = [v.encode() for v in self.values]
        self._pattern = re.compile("|".join(re.escape(v) for v in self.values)) if self.values else None
        self._bpattern = (
            re.compile(b"|".join(re.escape(v) for v in self._bytes)) if self._bytes else None
        )
        self.longest = max((len(b) for b in self._bytes), default=0)

    def __bool__(self) -> bool:
        return bool(self.values)

    def text(self, value: str) -> str:
        return self._pattern.sub(MASK, value) if self._pattern else value

    def data(self, value: bytes) -> bytes:
        return self._bpattern.sub(MASK.encode(), value) if self._bpattern else value

    def deep(self, value: object) -> object:
        """Mask every string inside nested dicts, lists and tuples (for specs and metadata)."""
        if not self._pattern:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.deep(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(self.deep(v) for v in value)
        return value

    def stream(self) -> StreamRedactor:
        return StreamRedactor(self)


class StreamRedactor:
    """Masks secrets in a byte stream that arrives in chunks, also across chunk boundaries.

    It holds back only the end of a chunk that could be the start of a secret, so output
    that contains no secret prefix passes through with no delay.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._r = redactor
        self._held = b""

    def feed(self, chunk: bytes) -> bytes:
        if not self._r:
            return chunk
        data = self._held + chunk if self._held else chunk
        masked = self._r.data(data)
        keep = self._partial_suffix(masked)
        self._held = masked[len(masked) - keep:] if keep else b""
        return masked[: len(masked) - keep] if keep else masked

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held

    def _partial_suffix(self, data: bytes) -> int:
        """Length of the longest end of ``data`` that is a proper prefix of some secret."""
        best = 0
        window = data[-(self._r.longest - 1):] if self._r.longest > 1 else b""
        for secret in self._r._bytes:
            for n in range(min(len(secret) - 1, len(window)), best, -1):
                if data.endswith(secret[:n]):
                    best = n
                    break
        return best
