"""Chunks of UTF-8 output cut at arbitrary byte offsets, made safe to pass on one by one; and
the spec fields a remote runner refuses."""

from __future__ import annotations

from typing import Any

from runwright.runners import RunSpec, SpecError


class Utf8Carry:
    """Holds back an incomplete UTF-8 character at the end of a chunk until the next chunk
    completes it, so every chunk passed on decodes whole (a WebSocket follower or a tail
    decodes chunk by chunk). Bytes that are not UTF-8 pass through unchanged."""

    def __init__(self) -> None:
        self._held = b""

    def feed(self, data: bytes) -> bytes:
        """The bytes of ``data`` (after what was held) up to the last complete character."""
        data = self._held + data
        cut = _incomplete_tail(data)
        self._held = data[len(data) - cut:] if cut else b""
        return data[: len(data) - cut] if cut else data

    @property
    def held(self) -> int:
        """How many bytes are held back (not passed on yet): 0 to 3."""
        return len(self._held)

    def flush(self) -> bytes:
        """What is still held (the output ended inside a character)."""
        held, self._held = self._held, b""
        return held


def _incomplete_tail(data: bytes) -> int:
    """How many bytes at the end of ``data`` start a UTF-8 character that is not complete."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # a lead byte (or ASCII): how long is its character?
            need = 2 if byte & 0xE0 == 0xC0 else 3 if byte & 0xF0 == 0xE0 else 4 if byte & 0xF8 == 0xF0 else 1
            return back if need > back else 0
    return 0


def refuse_local_fields(spec: RunSpec, runner: str, instead: str) -> None:
    """Fields that mean something only for a local process: refused by name, never ignored."""
    if spec.env:
        raise SpecError("env", f"is not used by the {runner} runner; pass {instead}")
    if spec.cwd is not None:
        raise SpecError("cwd", f"is not used by the {runner} runner")
    if spec.stdin is not None:
        raise SpecError("stdin", f"is not used by the {runner} runner")


__all__ = ["Utf8Carry", "refuse_local_fields"]


def parameter_text(value: Any) -> str:
    """A build parameter or pipeline variable as the server takes it: text, booleans lower-case
    (``true``/``false``, as Jenkins and GitLab write them)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
