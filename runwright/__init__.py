"""runwright: run commands anywhere and record every run the same way.

The repository's top-level folders are installed under this one name, so a user's
site-packages gains nothing generic: ``runwright.runners`` (the runner contract and the
built-in runners), ``runwright.logging_core`` (the ExecutionLogger sink) and
``runwright.integrations`` (Django, Celery, the command line).
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """``runwright.__version__``, read from the installed distribution on first use (reading
    package metadata costs a command line's start-up some 20 ms it rarely needs)."""
    if name != "__version__":
        raise AttributeError(f"module 'runwright' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        value = version("runwright")
    except PackageNotFoundError:  # running from a checkout that is not installed
        value = "0+unknown"
    globals()["__version__"] = value
    return value
