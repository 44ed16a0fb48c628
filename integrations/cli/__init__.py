"""The ``runwright`` command line (``runwright.integrations.cli.app``) and its console script."""

from __future__ import annotations


def console() -> None:
    """The ``runwright`` console script: ``app.main()`` in a process of its own, exiting with
    its code.

    Start-up makes some hundred thousand objects (modules, classes, functions) that live as
    long as the process: collecting garbage among them while they are made is wasted time
    (about a tenth of a command's start-up), so the collector is off while the command line is
    imported and on again before any command runs. At the end, the objects still alive are
    frozen (``gc.freeze``): the interpreter's final collection skips them, which was most of
    the 90-130 ms its shutdown took. Nothing is written at that point: a command returns only
    once what it recorded is stored, and atexit handlers (logging's flush, observers) and
    the flush of stdout and stderr still run."""
    import gc
    import sys

    gc.disable()
    try:
        from runwright.integrations.cli.app import main
    finally:
        gc.enable()
    code = main()
    gc.freeze()
    sys.exit(code)
