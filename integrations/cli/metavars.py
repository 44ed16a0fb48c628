"""Help that reads like docker's and kubectl's: ``--timeout SECONDS``, ``--env KEY=VALUE``,
a flag without a type, instead of typer's Python types (``<float>``, ``<list[str]>``,
``<bool>``). An option that names its own metavar keeps it."""

from __future__ import annotations

from typing import Any

#: Metavars by option name; other options show their name in capitals.
BY_NAME = {
    "timeout": "SECONDS", "grace": "SECONDS", "env": "KEY=VALUE", "secret": "KEY=VALUE", "label": "KEY=VALUE",
    "option": "KEY=VALUE", "cwd": "DIR", "runner": "NAME", "status": "STATUS", "limit": "N", "offset": "BYTES",
    "after": "N", "tail": "N", "since": "AGE|TIME", "queue": "QUEUE", "queues": "QUEUES", "concurrency": "N",
    "loglevel": "LEVEL", "host": "HOST", "port": "PORT", "output": "FORMAT",
}


def readable_metavars(command: Any) -> None:
    """Set a metavar on every parameter of ``command`` and its subcommands that has none."""
    from typer.core import TyperArgument, TyperOption

    for param in getattr(command, "params", ()):
        if isinstance(param, TyperOption):
            if param.is_flag or param.count:
                param.metavar = ""  # a flag takes no value: show none
            elif param.metavar is None:
                param.metavar = BY_NAME.get(param.name or "", (param.name or "value").upper())
        elif isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = (param.name or "arg").upper()  # click adds "..." to a variadic one
            param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]  # the name says it
    _flag_help_option(command)
    for sub in getattr(command, "commands", {}).values():
        readable_metavars(sub)


def _flag_help_option(command: Any) -> None:
    """-h/--help is made per invocation by click: give it no metavar either."""
    make = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None:
            option.metavar = ""
        return option

    command.get_help_option = get_help_option
