"""URLs for running runwright's admin on its own (`ROOT_URLCONF = "runwright.integrations.django.urls"`);
in a project, the app's admin appears in the project's own admin site."""

from django.contrib import admin
from django.urls import path

urlpatterns = [path("admin/", admin.site.urls)]
