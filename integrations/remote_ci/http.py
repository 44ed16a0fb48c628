"""One failed request to a CI server, classified so the caller knows whether to retry."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

#: Statuses worth asking again: the server is overloaded, restarting, or behind a proxy that is.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
#: Statuses after which a request surely was not acted on, so even a trigger may be repeated.
NOT_PROCESSED_STATUSES = frozenset({429, 502, 503, 504})


class RemoteError(Exception):
    """A request to the server failed.

    ``status`` is the HTTP status (None: no response, a connection error); ``message`` is
    what the server said, shortened; ``retry_after`` is the server's ``Retry-After`` in
    seconds, when it sent one; ``processed`` is False when the request surely did not reach
    the application (connection refused, 502/503/504/429), so repeating it cannot act twice.
    """

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None,
                 processed: bool = True, transient: bool | None = None) -> None:
        self.status, self.message, self.retry_after, self.processed = status, message, retry_after, processed
        self._transient = transient
        super().__init__(f"HTTP {status}: {message}" if status is not None else message)

    @property
    def transient(self) -> bool:
        """Worth asking again: no response at all, or 429/5xx (unless said otherwise)."""
        if self._transient is not None:
            return self._transient
        return self.status is None or self.status in TRANSIENT_STATUSES

    @classmethod
    def from_response(cls, response: Any) -> RemoteError:
        """From a ``requests.Response`` with an error status."""
        status = int(response.status_code)
        return cls(error_text(response), status, parse_retry_after(response.headers.get("Retry-After")),
                   processed=status not in NOT_PROCESSED_STATUSES)

    @classmethod
    def from_connection(cls, exc: BaseException) -> RemoteError:
        """From a requests/urllib3 connection error or timeout."""
        import requests

        kind = "timed out" if isinstance(exc, requests.exceptions.Timeout) else "connection failed"
        return cls(f"{kind}: {_short(str(exc))}", None, None, processed=not _never_reached(exc))


def _never_reached(exc: BaseException) -> bool:
    """True when the connection itself failed (refused, unresolvable, connect timeout): the
    request never reached the server. A connection dropped after sending may have been acted on."""
    import requests
    import urllib3.exceptions

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    reason = exc.args[0] if exc.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header: a number of seconds or an HTTP date; None
    when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def error_text(response: Any, limit: int = 300) -> str:
    """What the server said about an error, in one short line: a JSON ``message``/``error``,
    an HTML page's title and first heading, or the start of the body; else the reason."""
    body = response.content or b""
    text = body.decode("utf-8", "replace")
    found = ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("message", "error", "error_description"):
            if data.get(key):
                value = data[key]
                found = value if isinstance(value, str) else json.dumps(value)
                break
    elif "<" in text and ">" in text:
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.S | re.I)
        heading = re.search(r"<h[12][^>]*>(.*?)</h[12]>", text, re.S | re.I)
        parts = [_strip_tags(m.group(1)) for m in (title, heading) if m]
        found = " - ".join(dict.fromkeys(p for p in parts if p)) or _strip_tags(text)
    else:
        found = text
    found = _short(found, limit) or str(getattr(response, "reason", "") or "")
    return found


def _strip_tags(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", text)).strip()


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["NOT_PROCESSED_STATUSES", "TRANSIENT_STATUSES", "RemoteError", "error_text", "parse_retry_after"]
