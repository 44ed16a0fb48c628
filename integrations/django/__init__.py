"""runwright's Django app: execution and log-chunk models, admin, ``manage.py runwright``.

In a Django project add ``"runwright.integrations.django"`` to INSTALLED_APPS (label
``runwright``) and run ``manage.py migrate runwright``; runwright then uses the project's
settings and database and never migrates anything itself. Outside a project,
``runwright.integrations.django.setup()`` configures Django on SQLite in runwright's data
directory (or ``DATABASE_URL``) and applies runwright's own migrations on first use.
"""

from runwright.integrations.django.bootstrap import is_standalone, setup

__all__ = ["is_standalone", "setup"]
