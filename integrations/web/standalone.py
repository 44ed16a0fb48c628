"""Django settings of ``runwright serve`` when there is no project: runwright's embedded
database plus auth, sessions, messages, the admin, Channels and the web UI.

Variables: ``RUNWRIGHT_ALLOWED_HOSTS`` (comma-separated, default ``127.0.0.1,localhost`` and
the host served on), ``RUNWRIGHT_CHANNEL_LAYER_URL`` (``redis://...``: notifications from
runs on any worker; default in memory), ``RUNWRIGHT_TIME_ZONE`` (times shown, default UTC).
"""

from __future__ import annotations

import os
from typing import Any

from runwright.integrations.web.notifier import layer_settings


def web_settings(extra_hosts: tuple[str, ...] = ()) -> dict[str, Any]:
    hosts = [h.strip() for h in os.environ.get("RUNWRIGHT_ALLOWED_HOSTS", "").split(",") if h.strip()]
    hosts = hosts or ["127.0.0.1", "localhost", "[::1]", *extra_hosts]
    return {
        "INSTALLED_APPS": [
            "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
            "django.contrib.messages", "channels", "runwright.integrations.web",
        ],
        "MIDDLEWARE": [
            "django.middleware.security.SecurityMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "TEMPLATES": [{
            "BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
            "OPTIONS": {"context_processors": [
                "django.template.context_processors.request", "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]},
        }],
        "ROOT_URLCONF": "runwright.integrations.web.standalone_urls",
        "ASGI_APPLICATION": "runwright.integrations.web.asgi.application",
        "CHANNEL_LAYERS": layer_settings(),
        "ALLOWED_HOSTS": hosts,
        "LOGIN_URL": "/accounts/login/",
        "LOGIN_REDIRECT_URL": "/",
        "LOGOUT_REDIRECT_URL": "/accounts/login/",
    }


def configure(extra_hosts: tuple[str, ...] = ()) -> None:
    """Django ready for the web UI: the project's settings when DJANGO_SETTINGS_MODULE is
    set (the project installs the apps), else the standalone ones above."""
    from runwright.integrations.django import setup

    setup(extra_settings=web_settings(extra_hosts))
