"""WebSocket routes; include them in your ASGI router (see docs/web.md)."""

from django.urls import path

from runwright.integrations.web.consumers import ExecutionConsumer, ExecutionListConsumer

websocket_urlpatterns = [
    path("ws/runwright/executions/", ExecutionListConsumer.as_asgi()),
    path("ws/runwright/executions/<int:pk>/", ExecutionConsumer.as_asgi()),
]
