"""``manage.py runwright <command>``: the ``runwright`` command line on the project's
settings, database and Celery app (``manage.py runwright --help`` lists the commands)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "runwright's command line (run, list, show, logs, submit, cancel, group, worker, reap, info, runners)."

    def run_from_argv(self, argv: list[str]) -> None:
        # The CLI parses its own arguments: everything after `runwright` goes to it as is.
        from runwright.integrations.cli.app import main

        sys.exit(main(argv[2:], prog_name=f"{argv[0].rsplit('/', 1)[-1]} runwright"))

    def add_arguments(self, parser: Any) -> None:
        import argparse

        parser.add_argument("args", nargs=argparse.REMAINDER)

    def handle(self, *args: Any, **options: Any) -> None:  # call_command("runwright", "list", ...)
        from runwright.integrations.cli.app import main

        code = main(list(args), prog_name="manage.py runwright")
        if code:
            from django.core.management.base import CommandError

            raise CommandError(f"runwright exited with {code}", returncode=code)
