"""URLs of ``runwright serve``: the UI at ``/``, ``/metrics``, login and the admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from runwright.integrations.prometheus import metrics_view

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(template_name="runwright_web/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("metrics", metrics_view),
    path("", include("runwright.integrations.web.urls")),
]
