"""The ASGI application of ``runwright serve`` (``daphne runwright.integrations.web.asgi:application``).

A project builds its own from :func:`websocket_application` (see docs/web.md)."""

from __future__ import annotations

import os
from typing import Any

from runwright.integrations.web.standalone import configure

configure(tuple(h for h in os.environ.get("RUNWRIGHT_SERVE_HOST", "").split(",") if h))

from channels.auth import AuthMiddlewareStack  # noqa: E402  (Django must be set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402


def websocket_application() -> Any:
    """runwright's sockets behind session authentication and an Origin check."""
    from runwright.integrations.web.routing import websocket_urlpatterns

    return AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))


application = ProtocolTypeRouter({"http": get_asgi_application(), "websocket": websocket_application()})
