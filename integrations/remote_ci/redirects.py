"""Credentials stay with the configured server: a redirect to another server is refused.

requests strips only the ``Authorization`` header when a redirect leaves the host; a token
sent in another header (GitLab's ``PRIVATE-TOKEN``, ``JOB-TOKEN``) or a CSRF crumb would
follow the redirect. Rather than strip headers one by one, a redirect whose target requests
itself would strip credentials for (another host, another port, a scheme change other than
http -> https on the default ports) is refused before it is followed, with an error saying
where it went; the user points ``options.url`` at the server itself.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import requests


class RedirectRefused(requests.exceptions.RequestException):
    """The server redirected a request to another server; nothing was sent there."""

    def __init__(self, source: str, target: str, status: int) -> None:
        self.source, self.target, self.status = source, target, status
        super().__init__(f"the server redirected the request to another server ({origin(target)}, "
                         f"from {origin(source)}); runwright never sends credentials to another server: "
                         f"set options.url to the server that answers")


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, without credentials or path."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def refuse_cross_server_redirects(session: requests.Session) -> requests.Session:
    """Make ``session`` raise RedirectRefused on a redirect to another server (a response
    hook: it sees each redirect before requests follows it). Returns the session."""

    def check(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.is_redirect:
            target = urljoin(response.url, session.get_redirect_target(response) or "")
            if session.should_strip_auth(response.url, target):
                response.close()
                raise RedirectRefused(response.url, target, response.status_code)
        return response

    session.hooks["response"].append(check)
    return session


__all__ = ["RedirectRefused", "origin", "refuse_cross_server_redirects"]
