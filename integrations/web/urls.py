"""The web UI's URLs: ``path("runwright/", include("runwright.integrations.web.urls"))``."""

from django.urls import path

from runwright.integrations.prometheus import metrics_view
from runwright.integrations.web import views

app_name = "runwright_web"

urlpatterns = [
    path("", views.execution_list, name="list"),
    path("executions/<int:pk>/", views.execution_detail, name="detail"),
    path("executions/<int:pk>/json", views.execution_json_view, name="json"),
    path("executions/<int:pk>/log", views.execution_log, name="log"),
    path("executions/<int:pk>/cancel", views.execution_cancel, name="cancel"),
    path("executions/<int:pk>/rerun", views.execution_rerun, name="rerun"),
    path("stats/", views.stats_page, name="stats"),
    path("metrics", metrics_view, name="metrics"),
]
