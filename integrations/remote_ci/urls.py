"""A CI server's URL, checked when the spec is validated: a malformed one (no scheme, a
bracket left open, a space) is a clear error naming the option before any request, not a
TypeError from deep inside an HTTP library."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from runwright.runners import SpecError


def url_problem(url: str) -> str | None:
    """What is wrong with ``url`` as a server's base URL, or None when it is usable:
    ``http(s)://host[:port][/path]``, no spaces, no query or fragment."""
    if not url:
        return "is empty"
    if any(c.isspace() for c in url):
        return "must not contain spaces"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not url.lower().startswith(f"{parts.scheme}://"):
        return "must start with http:// or https://"
    if not parts.hostname:
        return "names no host"
    if parts.query or parts.fragment:
        return "must not have a query or a fragment"
    try:
        from urllib3.util import parse_url  # what requests and python-jenkins parse it with

        parse_url(url)
    except ImportError:  # pragma: no cover - requests brings urllib3
        pass
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    return None


def check_server_url(option: str | None, env_name: str, env_value: str | None, example: str) -> None:
    """Raise SpecError naming ``options.url`` when the URL the run would use (the option, else
    the environment's ``env_name``) is missing or malformed. Credentials in the URL are not
    repeated in the message."""
    if option:
        problem = url_problem(option)
        if problem:
            raise SpecError("options.url", f"{problem}: got {shown(option)}, expected a URL like {example}")
        return
    if not env_value:
        raise SpecError("options.url", f"is required (or set {env_name} in the worker's environment)")
    problem = url_problem(env_value)
    if problem:
        raise SpecError("options.url", f"is not set, and {env_name} {problem}: got {shown(env_value)}, "
                                       f"expected a URL like {example}")


def shown(url: str) -> str:
    """``url`` for a message: quoted, any user:password@ masked."""
    return repr(re.sub(r"(?<=//)[^/@]*@", "***@", url))


__all__ = ["check_server_url", "shown", "url_problem"]
