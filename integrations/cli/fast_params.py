"""Typer converts every option's value through a pydantic TypeAdapter, and importing pydantic
costs a command line about 60 ms of its start-up. runwright's options are plain ``str``,
``int``, ``float``, ``bool`` and ``list[str]`` (``| None``): those are converted here the way typer
does (bounds included, the same "Invalid value" usage error and exit code 2); any other
annotation still goes through typer's own pydantic path."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from typer import core as typer_core
from typer._click.exceptions import BadParameter
from typer._coercion import RuntimeParam, TypeDescriptor

_SCALARS: dict[type, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_BOOLS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
_original = typer_core.build_runtime_param


@dataclass(frozen=True)
class PlainRuntimeParam(RuntimeParam):
    """``str``, ``int`` or ``float``, or a list of one of them, with typer's min/max."""

    item: type = str
    many: bool = False

    def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
        if self.many:
            return [self._one(v, param, ctx) for v in value]
        return self._one(value, param, ctx)

    def _one(self, value: Any, param: Any, ctx: Any) -> Any:
        if self.item is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in _BOOLS:
                return _BOOLS[str(value).lower()]
            raise BadParameter(f"{value!r} is not a valid boolean.", ctx=ctx, param=param)
        if isinstance(value, self.item) and not isinstance(value, bool):
            out = value
        else:
            try:
                out = self.item(value)
            except (TypeError, ValueError):
                raise BadParameter(f"{value!r} is not a valid {_SCALARS[self.item]}.", ctx=ctx, param=param) from None
        info = self.parameter_info
        if info.min is not None and out < info.min:
            if info.clamp:
                return info.min
            raise BadParameter(f"{out} is smaller than the minimum {info.min}.", ctx=ctx, param=param)
        if info.max is not None and out > info.max:
            if info.clamp:
                return info.max
            raise BadParameter(f"{out} is larger than the maximum {info.max}.", ctx=ctx, param=param)
        return out


def _plain(annotation: Any) -> tuple[type, bool] | None:
    if annotation in _SCALARS:
        return annotation, False
    if getattr(annotation, "__origin__", None) is list:
        args = getattr(annotation, "__args__", ())
        if len(args) == 1 and args[0] in _SCALARS:
            return args[0], True
    return None


def build_runtime_param(descriptor: TypeDescriptor) -> RuntimeParam:
    info = descriptor.parameter_info
    plain = _plain(descriptor.annotation)
    if (plain is None or descriptor.file_annotation is not None or descriptor.choices is not None
            or getattr(info, "parser", None) is not None or getattr(info, "click_type", None) is not None):
        return _original(descriptor)
    return PlainRuntimeParam(parameter_info=info, annotation=descriptor.annotation, item=plain[0], many=plain[1])


def install() -> None:
    """Use the plain conversion for typer's commands in this process."""
    typer_core.build_runtime_param = build_runtime_param
