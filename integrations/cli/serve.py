"""``runwright serve``: the web UI on daphne (ASGI), standalone or on the project's settings."""

from __future__ import annotations

import os
from typing import Annotated

import typer


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    create_user: Annotated[str | None, typer.Option(
        "--create-user", metavar="NAME",
        help="Create (or reset) a superuser NAME, password read from RUNWRIGHT_WEB_PASSWORD or asked, then exit.")] = None,
) -> None:
    """Serve the web UI (live executions, statistics, /metrics, the admin) with daphne. Inside
    a project (DJANGO_SETTINGS_MODULE) it serves the project's ASGI application instead: mount
    runwright's URLs and WebSocket routes there (docs/web.md)."""
    import importlib.util

    from runwright.integrations.cli.app import EXIT_MISSING_EXTRA, fail

    missing = [m for m in ("channels", "daphne") if importlib.util.find_spec(m) is None]
    if missing:
        fail(f"`runwright serve` needs the web extra ({', '.join(missing)} not installed): "
             "pip install 'runwright[web]'", code=EXIT_MISSING_EXTRA)
    os.environ.setdefault("RUNWRIGHT_SERVE_HOST", host)
    if create_user:
        _create_user(create_user)
        return
    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        from runwright.integrations.cli.app import _setup

        _setup()
        from django.conf import settings

        target = getattr(settings, "ASGI_APPLICATION", None)
        if not target:
            fail("the project has no ASGI_APPLICATION setting: set it, or serve the project with daphne directly")
        module, _, name = target.rpartition(".")
        application = f"{module}:{name}"
    else:
        from runwright.integrations.web.standalone import configure

        configure((host,))  # migrates the embedded database before the first request
        application = "runwright.integrations.web.asgi:application"
    from daphne.cli import CommandLineInterface

    typer.echo(f"runwright web UI on http://{host}:{port}/", err=True)
    CommandLineInterface().run(["-b", host, "-p", str(port), "--proxy-headers", application])


def _create_user(name: str) -> None:
    from runwright.integrations.cli.app import fail
    from runwright.integrations.web.standalone import configure

    if os.environ.get("DJANGO_SETTINGS_MODULE"):
        fail("inside a project, create users with `manage.py createsuperuser`")
    configure()
    password = os.environ.get("RUNWRIGHT_WEB_PASSWORD") or typer.prompt(f"password for {name}", hide_input=True,
                                                                        confirmation_prompt=True)
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(username=name)
    user.is_staff = user.is_superuser = user.is_active = True
    user.set_password(password)
    user.save()
    typer.echo(f"{'created' if created else 'updated'} superuser {name}")
