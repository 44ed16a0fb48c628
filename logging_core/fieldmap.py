"""How runwright's canonical execution fields map onto a Django model's fields.

runwright's own model and a platform's existing model are written through the same code;
only the map differs. Any field may be absent (None) and status values may be renamed.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from runwright.runners.status import Status

log = logging.getLogger("runwright.fieldmap")

#: The canonical names existing platforms already use.
CANONICAL = ("status", "started_at", "completed_at", "stdout", "stderr", "return_code", "logs", "error_message")
#: Where a missing status value falls back to, so that a model without ``timeout`` still
#: records a timed-out run as the failure it is.
_FALLBACK = {
    Status.TIMEOUT: Status.FAILED, Status.ERROR: Status.FAILED, Status.LOST: Status.FAILED,
    Status.CANCELLED: Status.FAILED,
}


#: What each canonical field holds, as Django's internal field types that can hold it: a
#: mapping onto another kind of field would corrupt the row (output in the status column,
#: an exit code in a text field).
TEXT_TYPES = frozenset({"CharField", "TextField"})
KINDS: dict[str, tuple[str, frozenset[str]]] = {
    "status": ("a text field", TEXT_TYPES),
    "stdout": ("a text field", TEXT_TYPES),
    "stderr": ("a text field", TEXT_TYPES),
    "logs": ("a text field", TEXT_TYPES),
    "error_message": ("a text field", TEXT_TYPES),
    "started_at": ("a date-time field", frozenset({"DateTimeField"})),
    "completed_at": ("a date-time field", frozenset({"DateTimeField"})),
    # Exit codes are negative too (-1 for a failure without one, -9 for a signal).
    "return_code": ("a signed integer field", frozenset({"IntegerField", "SmallIntegerField", "BigIntegerField"})),
}

#: Statuses without a fallback: a model must have these values (or map them).
_NEEDED = (Status.PENDING, Status.RUNNING, Status.SUCCESS, Status.FAILED)


#: Ends a text cut to its field's ``max_length``; the full text is in the execution's log.
CUT_MARK = "…[cut; full text in the log]"


def fit_text(text: str, max_length: int | None, mark: str = CUT_MARK) -> str:
    """``text`` within ``max_length`` characters, its end replaced by ``mark`` (or by "…" in
    a field too short for it) when it was longer. Mask before fitting."""
    if max_length is None or len(text) <= max_length:
        return text
    mark = mark if max_length >= len(mark) + 10 else "…"
    return text[: max(max_length - len(mark), 0)] + mark[:max_length]


class FieldMapError(ValueError):
    """A field map that cannot work on its model; the message says exactly what is wrong."""


class FieldMapWarning(UserWarning):
    """A field map that works but would write status values the model does not list."""


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
    #: Characters of each text field kept (its tail) when output goes to a model's text
    #: fields; the full output is in runwright's chunk table, byte-exact.
    text_limit: int = 16 * 1024

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

    def stored_status(self, value: str) -> Status:
        """The status of a row holding ``value``. A value the map does not know (a status of
        the platform's own, ``scheduled``, ``queued``) is not started yet: ``pending``, so
        that it can still be started or cancelled; a warning says so, once per value."""
        if value in self.mapped_values():
            return self.status_from_value(value)
        seen: set[str] = self.__dict__.setdefault("_unknown_seen", set())  # a warning each, not one per call
        if value not in seen:
            seen.add(value)
            message = (f"status value {value!r} is not mapped to a runwright status: taken as not started "
                       f"(pending); map it with runwright_fields = {{'status_values': {{...}}}}")
            log.warning(message)
        return Status.PENDING

    def mapped_values(self) -> frozenset[str]:
        """Every stored value this map reads as a runwright status."""
        return frozenset({*self.status_values.values(), *(s.value for s in Status)})

    def _known_values(self) -> frozenset[str]:
        choices: frozenset[str] = self.__dict__.get("_choices", frozenset(s.value for s in Status))
        return choices

    def max_length(self, name: str) -> int | None:
        """The ``max_length`` of the field ``name`` is mapped to (None: unbounded or absent)."""
        lengths: Mapping[str, int | None] = self.__dict__.get("_max_lengths", {})
        column = self.model_field(name)
        return lengths.get(column) if column else None

    def columns(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Canonical name -> value, to model field -> value, dropping absent fields."""
        out: dict[str, Any] = {}
        lengths: Mapping[str, int | None] = self.__dict__.get("_max_lengths", {})
        for name, value in values.items():
            column = self.model_field(name)
            if column:
                # A text longer than its field (PostgreSQL raises DataError) is cut, visibly.
                # Only the error text is also written in full to the log (see the legacy API and the recorder).
                mark = CUT_MARK if name == "error_message" else "…"
                out[column] = fit_text(value, lengths.get(column), mark) if isinstance(value, str) else value
        return out

    @classmethod
    def for_model(cls, model: type, declared: FieldMap | Mapping[str, Any] | None = None) -> FieldMap:
        """The map for ``model``: declared (argument, or the model's ``runwright_fields``),
        with fields the model does not have set to absent and its status choices learned.

        Raises FieldMapError naming the model and the key when a declared key is unknown, a
        declared field is not on the model, or a status value is not among the model's
        choices. Warns (FieldMapWarning) when the model's choices lack runwright's values for
        pending/running/success/failed and no ``status_values`` say what to write instead."""
        declared = declared if declared is not None else getattr(model, "runwright_fields", None)
        where = f"{model.__name__}.runwright_fields"
        model_fields = model._meta.get_fields()  # type: ignore[attr-defined]
        # A foreign key answers to its name and its column's attname (``parent_id``).
        names = {f.name for f in model_fields} | {getattr(f, "attname", f.name) for f in model_fields}
        explicit: dict[str, Any] = {}
        if declared is None:
            fmap = cls()
        elif isinstance(declared, FieldMap):
            fmap = declared
        else:
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(declared) - known)
            if unknown:
                raise FieldMapError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
            explicit = dict(declared)
            for name in (*CANONICAL, *dict(explicit.get("extra") or {})):
                column = explicit.get(name) if name in CANONICAL else explicit["extra"][name]
                if column is not None and column not in names:
                    raise FieldMapError(
                        f"{where}: {name!r} is mapped to {column!r}, but {model.__name__} has no field {column!r}")
            fmap = cls(**explicit)
        changes: dict[str, Any] = {n: None for n in CANONICAL if getattr(fmap, n) and getattr(fmap, n) not in names}
        changes["extra"] = {k: v for k, v in fmap.extra.items() if v in names}
        fmap = replace(fmap, **changes)
        if fmap.status is None:
            raise FieldMapError(f"{model.__name__} has no status field; map one with runwright_fields")
        _check_columns(model, fmap, where)
        object.__setattr__(fmap, "_max_lengths", {
            f.attname: f.max_length for f in model._meta.concrete_fields  # type: ignore[attr-defined]
            if f.get_internal_type() in TEXT_TYPES and f.max_length})
        if not any((fmap.error_message, fmap.logs, fmap.stderr, fmap.stdout)):
            message = (f"{model.__name__} has no error_message, logs, stderr or stdout field: error text and output "
                       f"will be in runwright's log only; map one with runwright_fields")
            log.warning(message)
            warnings.warn(message, FieldMapWarning, stacklevel=3)
        statuses = {s.value for s in Status}
        for canonical in fmap.status_values:
            if canonical not in statuses:
                raise FieldMapError(f"{where}: status_values has {canonical!r}, which is not a runwright status "
                                    f"(one of {', '.join(s.value for s in Status)})")
        # ``flatchoices``: grouped choices (``[("Group", [(value, label), ...]), ...]``) as their values.
        choices = model._meta.get_field(fmap.status).flatchoices  # type: ignore[attr-defined]
        if choices:
            values = frozenset(str(c[0]) for c in choices)
            object.__setattr__(fmap, "_choices", values)
            for canonical, value in fmap.status_values.items():
                if value not in values:
                    raise FieldMapError(f"{where}: status_values maps {canonical!r} to {value!r}, which is not among "
                                        f"{model.__name__}.{fmap.status}'s choices ({', '.join(sorted(values))})")
            lacking = [s.value for s in _NEEDED if s.value not in fmap.status_values and s.value not in values]
            if lacking:
                message = (f"{model.__name__}.{fmap.status}'s choices ({', '.join(sorted(values))}) lack runwright's "
                           f"{', '.join(map(repr, lacking))} and no status_values map them: runwright would write "
                           f"values the model does not list; declare runwright_fields = {{'status_values': {{...}}}}")
                log.warning(message)
                warnings.warn(message, FieldMapWarning, stacklevel=3)
        return fmap


def _check_columns(model: Any, fmap: FieldMap, where: str) -> None:
    """One model field per canonical name, each of a kind that holds what is written to it."""
    owners: dict[str, str] = {}
    for name in (*CANONICAL, *fmap.extra):
        column = fmap.model_field(name)
        if not column:
            continue
        field_ = model._meta.get_field(column)
        column = getattr(field_, "attname", column)  # ``parent`` and ``parent_id`` are one column
        if column in owners:
            raise FieldMapError(f"{where}: {owners[column]!r} and {name!r} are both mapped to {column!r}: "
                                f"each needs a field of its own")
        owners[column] = name
        kind = KINDS.get(name)
        if kind is not None and field_.get_internal_type() not in kind[1]:
            raise FieldMapError(f"{where}: {name!r} is mapped to {column!r}, a {field_.get_internal_type()}, "
                                f"but it needs {kind[0]}")
