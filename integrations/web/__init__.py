"""runwright's web UI: executions listed and followed live, statistics and ``/metrics``.

Django + Channels, served by an ASGI server (daphne). Standalone: ``runwright serve``. In a
project: add ``"channels"`` and ``"runwright.integrations.web"`` to INSTALLED_APPS (after
``"runwright.integrations.django"``), ``path("runwright/", include("runwright.integrations.web.urls"))``
to the URLs and :data:`runwright.integrations.web.routing.websocket_urlpatterns` to the ASGI
router (see docs/web.md).
"""
