"""runwright's Django app: execution and log-chunk models, admin, and a zero-config setup.

In a Django project add ``"integrations.django"`` to INSTALLED_APPS. Outside one, call
``integrations.django.setup()``: SQLite in the user's data directory (or ``DATABASE_URL``),
migrated automatically on first use.
"""

from integrations.django.bootstrap import setup

__all__ = ["setup"]
