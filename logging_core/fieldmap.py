"""How runwright's canonical execution fields map onto a Django model's fields.

runwright's own model and a platform's existing model are written through the same code;
only the map differs. Any field may be absent (None) and status values may be renamed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from runners.status import Status

#: The canonical names existing platforms already use.
CANONICAL = ("status", "started_at", "completed_at", "stdout", "stderr", "return_code", "logs", "error_message")
#: Where a missing status value falls back to, so that a model without ``timeout`` still
#: records a timed-out run as the failure it is.
_FALLBACK = {
    Status.TIMEOUT: Status.FAILED, Status.ERROR: Status.FAILED, Status.LOST: Status.FAILED,
    Status.CANCELLED: Status.FAILED,
}


class FieldMapError(ValueError):
    pass


@dataclass(frozen=True)
class FieldMap:
    status: str | None = "status"
    started_at: str | None = "started_at"
    completed_at: str | None = "completed_at"
    stdout: str | None = "stdout"
    stderr: str | None = "stderr"
    return_code: str | None = "return_code"
    logs: str | None = "logs"
    error_message: str | None = "error_message"
    #: Further canonical names (``signal``, ``result``, ``worker``...) -> model fields.
    extra: Mapping[str, str] = field(default_factory=dict)
    #: Canonical status -> the model's value, for the ones that differ.
    status_values: Mapping[str, str] = field(default_factory=dict)

    def model_field(self, name: str) -> str | None:
        if name in CANONICAL:
            return getattr(self, name)  # type: ignore[no-any-return]
        return self.extra.get(name)

    def status_value(self, status: Status) -> str:
        value = self.status_values.get(status.value)
        if value is not None:
            return value
        fallback = _FALLBACK.get(status)
        if fallback is not None and status.value not in self._known_values():
            return self.status_value(fallback)
        return status.value

    def status_from_value(self, value: str) -> Status:
        for status in Status:
            if self.status_values.get(status.value) == value:
                return status
        try:
            return Status(value)
        except ValueError:
            raise FieldMapError(f"status value {value!r} is not mapped to a runwright status") from None

    def _known_values(self) -> frozenset[str]:
        choices: frozenset[str] = self.__dict__.get("_choices", frozenset(s.value for s in Status))
        return choices

    def columns(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical name -> value, to model field -> value, dropping absent fields."""
        out: dict[str, Any] = {}
        for name, value in values.items():
            column = self.model_field(name)
            if column:
                out[column] = value
        return out

    @classmethod
    def for_model(cls, model: type, declared: FieldMap | Mapping[str, Any] | None = None) -> FieldMap:
        """The map for ``model``: declared (argument, or the model's ``runwright_fields``),
        with fields the model does not have set to absent and its status choices learned."""
        declared = declared if declared is not None else getattr(model, "runwright_fields", None)
        if declared is None:
            fmap = cls()
        elif isinstance(declared, FieldMap):
            fmap = declared
        else:
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(declared) - known)
            if unknown:
                raise FieldMapError(f"{model.__name__}.runwright_fields: unknown key {unknown[0]!r}")
            fmap = cls(**dict(declared))
        model_fields = model._meta.get_fields()  # type: ignore[attr-defined]
        # A foreign key answers to its name and its column's attname (``parent_id``).
        names = {f.name for f in model_fields} | {getattr(f, "attname", f.name) for f in model_fields}
        changes: dict[str, Any] = {n: None for n in CANONICAL if getattr(fmap, n) and getattr(fmap, n) not in names}
        changes["extra"] = {k: v for k, v in fmap.extra.items() if v in names}
        fmap = replace(fmap, **changes)
        if fmap.status is None:
            raise FieldMapError(f"{model.__name__} has no status field; map one with runwright_fields")
        choices = model._meta.get_field(fmap.status).choices  # type: ignore[attr-defined]
        if choices:
            object.__setattr__(fmap, "_choices", frozenset(str(c[0]) for c in choices))
            # Explicit values win; the fallback only fills what the model lacks.
        return fmap
