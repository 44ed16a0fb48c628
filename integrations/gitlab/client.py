"""The GitLab requests the runner makes, through python-gitlab (authentication, URLs,
pagination by the ``Link`` header), each failure turned into a RemoteError with the server's
status, message and ``Retry-After``. python-gitlab's own retries are off: the runner's policy
(with a limit, interruptible by a stop) is the only one.

Endpoints (GitLab REST API v4, as documented for GitLab 17): ``POST /projects/:id/pipeline``,
``GET /projects/:id/pipelines/:pipeline_id``, ``GET /projects/:id/pipelines/:pipeline_id/jobs``
(``per_page=100``, following ``Link: rel="next"``), ``GET /projects/:id/jobs/:job_id/trace``,
``POST /projects/:id/pipelines/:pipeline_id/cancel``, ``GET /projects/:id/pipelines``
(``status``, ``source``) and ``GET /projects/:id/pipelines/:pipeline_id/variables`` (the sweep).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

from runwright.integrations.remote_ci.http import NOT_PROCESSED_STATUSES, RemoteError, parse_retry_after
from runwright.integrations.remote_ci.redirects import RedirectRefused, refuse_cross_server_redirects

T = TypeVar("T")
#: Every request: no retries inside python-gitlab (no uninterruptible sleeps either).
NO_RETRY: dict[str, Any] = {"obey_rate_limit": False, "retry_transient_errors": False, "max_retries": 0}
PER_PAGE = 100  # GitLab's maximum page size


class GitLabClient:
    """One GitLab server, one python-gitlab connection. ``timeout`` bounds each request."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        try:
            import gitlab
            import requests
        except ImportError:  # pragma: no cover - the extra is installed in the tests
            raise RemoteError("the gitlab runner needs python-gitlab: pip install 'runwright[gitlab]'",
                              transient=False) from None
        self.url = url.rstrip("/")
        self._seen = threading.local()
        # PRIVATE-TOKEN is a header of its own: requests would carry it across a redirect to
        # another host (it strips only Authorization), so such a redirect is refused.
        session = refuse_cross_server_redirects(requests.Session())
        session.hooks["response"].append(self._remember)
        self.gl = gitlab.Gitlab(self.url, private_token=token or None, timeout=timeout, session=session,
                                retry_transient_errors=False)

    def _remember(self, response: Any, *args: Any, **kwargs: Any) -> None:
        # python-gitlab's errors carry no headers: keep the last ones for Retry-After.
        self._seen.headers = response.headers

    def _call(self, request: Callable[[], T]) -> T:
        import gitlab
        import requests

        self._seen.headers = {}
        try:
            return request()
        except gitlab.exceptions.GitlabError as exc:
            status = exc.response_code
            message = exc.error_message
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            text = " ".join(str(message).split())[:300] if message else "no message"
            if status is None:
                raise RemoteError(text, None, transient=False) from None
            headers = getattr(self._seen, "headers", {}) or {}
            raise RemoteError(text, status, parse_retry_after(headers.get("Retry-After")),
                              processed=status not in NOT_PROCESSED_STATUSES) from None
        except RedirectRefused as exc:
            raise RemoteError(str(exc), exc.status, transient=False) from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError) as exc:
            raise RemoteError.from_connection(exc) from None

    @staticmethod
    def project_path(project: str | int) -> str:
        from gitlab.utils import EncodedId

        return f"/projects/{EncodedId(project)}"

    # -- requests ----------------------------------------------------------------------------
    def create_pipeline(self, project: str | int, ref: str, variables: list[dict[str, str]]) -> dict[str, Any]:
        data: dict[str, Any] = {"ref": ref}
        if variables:
            data["variables"] = variables
        return self._json(lambda: self.gl.http_post(f"{self.project_path(project)}/pipeline", post_data=data, **NO_RETRY))

    def pipeline(self, project: str | int, pipeline_id: int) -> dict[str, Any]:
        return self._json(lambda: self.gl.http_get(f"{self.project_path(project)}/pipelines/{pipeline_id}", **NO_RETRY))

    def jobs(self, project: str | int, pipeline_id: int) -> list[dict[str, Any]]:
        """Every job of the pipeline (all pages)."""
        path = f"{self.project_path(project)}/pipelines/{pipeline_id}/jobs"
        return self._list(lambda: self.gl.http_list(path, query_data={"per_page": PER_PAGE}, get_all=True, **NO_RETRY))

    def trace(self, project: str | int, job_id: int) -> bytes:
        """The job's whole log so far (the API has no offset: the caller keeps its own)."""
        path = f"{self.project_path(project)}/jobs/{job_id}/trace"
        response = self._call(lambda: self.gl.http_get(path, raw=True, streamed=False, **NO_RETRY))
        return bytes(getattr(response, "content", b"") or b"")

    def cancel(self, project: str | int, pipeline_id: int) -> dict[str, Any]:
        path = f"{self.project_path(project)}/pipelines/{pipeline_id}/cancel"
        return self._json(lambda: self.gl.http_post(path, **NO_RETRY))

    def pipelines(self, project: str | int, status: str) -> list[dict[str, Any]]:
        path = f"{self.project_path(project)}/pipelines"
        query = {"status": status, "source": "api", "per_page": PER_PAGE}
        return self._list(lambda: self.gl.http_list(path, query_data=query, get_all=True, **NO_RETRY))

    def variables(self, project: str | int, pipeline_id: int) -> list[dict[str, Any]]:
        path = f"{self.project_path(project)}/pipelines/{pipeline_id}/variables"
        return self._list(lambda: self.gl.http_list(path, get_all=True, **NO_RETRY))

    def _json(self, request: Callable[[], Any]) -> dict[str, Any]:
        value = self._call(request)
        if not isinstance(value, dict):
            raise RemoteError(f"unexpected answer: {str(value)[:100]}", None, transient=False)
        return value

    def _list(self, request: Callable[[], Any]) -> list[dict[str, Any]]:
        value = self._call(request)
        return [dict(item) for item in value]


__all__ = ["NO_RETRY", "PER_PAGE", "GitLabClient"]
