"""What the remote-CI runners (Jenkins, GitLab) share: talking to a server that may be slow,
overloaded or briefly down (retries with a limit, ``Retry-After``, polling with backoff),
and output that arrives in chunks cut anywhere (an incomplete UTF-8 character held back).

Only the public runner contract is used here, as a third-party package would."""

from runwright.integrations.remote_ci.http import RemoteError, error_text, parse_retry_after
from runwright.integrations.remote_ci.polling import Backoff, Retrier
from runwright.integrations.remote_ci.redirects import RedirectRefused, refuse_cross_server_redirects
from runwright.integrations.remote_ci.text import Utf8Carry, refuse_local_fields

__all__ = ["Backoff", "RedirectRefused", "RemoteError", "Retrier", "Utf8Carry", "error_text", "parse_retry_after",
           "refuse_cross_server_redirects", "refuse_local_fields"]
