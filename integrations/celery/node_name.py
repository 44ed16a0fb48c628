"""The Celery node name of a ``runwright worker``: ``--hostname`` as Celery's own, or a default
that no other worker on this host (or in a container sharing its hostname) has.

Two nodes with one name clash on the broker: RabbitMQ refuses the second one's pidbox queue
(``ResourceLocked``, it dies at start), and on Redis both answer whatever is sent to that name.
Celery's default, ``celery@HOST``, is one name for every worker of a host.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from typing import Any


class NodeNameError(ValueError):
    """A ``--hostname`` Celery would refuse or mangle; the message is one line."""


#: Longer names make queue names (``NAME.celery.pidbox``) RabbitMQ refuses (255 bytes at most).
MAX_LENGTH = 200


def default_template() -> str:
    """``runwright-PID-TAG@%h``: TAG is the same for every process of this boot and pid
    namespace (a hash of both), so two containers whose workers have the same pid and share
    a hostname still differ; random when neither can be read."""
    from runwright.runners.process_identity import boot_id, pid_namespace

    boot, ns = boot_id(), pid_namespace()
    tag = (hashlib.sha256(f"{boot}:{ns}".encode()).hexdigest()[:6] if boot and ns is not None
           else secrets.token_hex(3))
    return f"runwright-{os.getpid()}-{tag}@%h"


def expand(template: str) -> str:
    """The node name Celery's ``-n/--hostname`` makes of ``template``: ``%h`` the hostname,
    ``%n`` its first label, ``%d`` its domain, ``%%`` a percent sign; a name without ``@`` is
    a host (``w1`` -> ``celery@w1``). Raises NodeNameError (one line) for an empty name, a
    control character, a ``%`` Celery does not know, or a name longer than MAX_LENGTH."""
    from celery.utils.nodenames import default_nodename, host_format

    shown = template[:60] + ("..." if len(template) > 60 else "")
    if not template.strip():
        raise NodeNameError("--hostname: the name is empty")
    if not template.isprintable():
        raise NodeNameError(f"--hostname {shown!r}: control characters are not allowed")
    try:
        name = host_format(default_nodename(template))
    except ValueError as exc:  # Celery's "Unknown format %x in string ..."
        unknown = str(exc).split(" in string", 1)[0].replace("Unknown format ", "")
        raise NodeNameError(f"--hostname {shown!r}: unknown placeholder {unknown} "
                           "(known: %h hostname, %n name, %d domain, %i and %I process index, %% a percent)") from None
    if len(name) > MAX_LENGTH:
        raise NodeNameError(f"--hostname {shown!r}: {len(name)} characters, at most {MAX_LENGTH}")
    return str(name)


def in_use(app: Any, name: str, timeout: float = 1.0) -> bool:
    """Whether a running worker answers to ``name`` on ``app``'s broker (Celery's ping, waiting
    ``timeout`` seconds for a reply). False when the broker has no remote control (the
    embedded one) or cannot be reached: the worker's own start then says so."""
    from runwright.integrations.celery.app import EMBEDDED_TRANSPORT

    if app.conf.broker_transport == EMBEDDED_TRANSPORT:
        return False
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)  # a broker down: no check, no wait
            return bool(app.control.ping(destination=[name], timeout=timeout, connection=conn))
    except Exception:
        return False


__all__ = ["MAX_LENGTH", "NodeNameError", "default_template", "expand", "in_use"]
