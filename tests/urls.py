"""URLs of the test process: the admin, and the web UI when its extra is installed."""

import importlib.util

from django.contrib import admin
from django.urls import include, path

urlpatterns = [path("admin/", admin.site.urls)]
if importlib.util.find_spec("channels"):
    urlpatterns.append(path("runwright/", include("runwright.integrations.web.urls")))
