"""The Jenkins requests the runner makes, through python-jenkins (authentication, the CSRF
crumb, folder URLs), each failure turned into a RemoteError with the server's status,
message and ``Retry-After``.

Endpoints (Jenkins remote access API, as documented for the 2.4xx LTS line):
``crumbIssuer/api/json``, ``job/.../api/json``, ``job/.../build`` and
``job/.../buildWithParameters`` (201 + ``Location: .../queue/item/N/``),
``queue/item/N/api/json``, ``queue/cancelItem?id=N``, ``queue/api/json``,
``job/.../N/api/json``, ``job/.../N/logText/progressiveText?start=OFFSET``
(``X-Text-Size``, ``X-More-Data``), ``job/.../N/stop``, ``job/.../N/kill``,
``computer/api/json`` (running builds, for the sweep).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from runwright.integrations.remote_ci.http import RemoteError
from runwright.integrations.remote_ci.redirects import RedirectRefused, refuse_cross_server_redirects

#: What the runner reads of a build (``tree`` keeps the answers small).
BUILD_TREE = "number,url,building,result,duration,timestamp,queueId,displayName"
PARAMS_TREE = "actions[parameters[name,value]]"


@dataclass
class Console:
    """One answer of ``logText/progressiveText``: the bytes from the offset asked for, the
    offset to ask for next (``X-Text-Size``), and whether more may come (``X-More-Data``)."""

    data: bytes
    next_offset: int
    more: bool


class JenkinsClient:
    """One Jenkins server, one python-jenkins connection. ``timeout`` bounds each request."""

    def __init__(self, url: str, user: str | None = None, token: str | None = None, timeout: float = 30.0) -> None:
        try:
            import jenkins
        except ImportError:  # pragma: no cover - the extra is installed in the tests
            raise RemoteError("the jenkins runner needs python-jenkins: pip install 'runwright[jenkins]'",
                              transient=False) from None
        self.url = url if url.endswith("/") else url + "/"
        # retries=0: the runner's own retry policy (with a limit, honouring Retry-After) is the only one.
        self.server = jenkins.Jenkins(self.url, username=user or None, password=token or None, timeout=timeout,
                                      retries=0)
        # Credentials (and the crumb) never follow a redirect to another server.
        refuse_cross_server_redirects(self.server._session)

    # -- URLs ------------------------------------------------------------------------------
    def job_url(self, job: str) -> str:
        """The job's URL; folders are written ``team/app/deploy``."""
        return str(self.server.build_job_url(job))[: -len("build")]

    def queue_url(self, queue_id: int) -> str:
        return f"{self.url}queue/item/{queue_id}/"

    # -- requests ----------------------------------------------------------------------------
    def request(self, method: str, url: str, *, params: dict[str, Any] | None = None,
                data: dict[str, str] | None = None, crumb: bool = False) -> Any:
        """One request; returns the ``requests.Response``; raises RemoteError. A POST carries
        the CSRF crumb (fetched once, fetched again if the server says it is no longer valid)."""
        import requests

        for attempt in (1, 2):
            req = requests.Request(method, url, params=params, data=data)
            try:
                return self.server.jenkins_request(req, add_crumb=crumb)
            except Exception as exc:
                error = _classify(exc)
                if crumb and attempt == 1 and error.status == 403 and "crumb" in error.message.lower():
                    self.server.crumb = None  # expired with its session: ask for a new one
                    continue
                raise error from None
        raise AssertionError("unreachable")

    def json(self, url: str, tree: str | None = None) -> dict[str, Any]:
        response = self.request("GET", url, params={"tree": tree} if tree else None)
        try:
            value = json.loads(response.content)
        except ValueError:
            raise RemoteError(f"not JSON from {url}: {response.content[:100]!r}", response.status_code) from None
        if not isinstance(value, dict):
            raise RemoteError(f"unexpected JSON from {url}", response.status_code)
        return value

    def job_info(self, job: str) -> dict[str, Any]:
        return self.json(self.job_url(job) + "api/json",
                         "name,fullName,url,buildable,property[parameterDefinitions[name,type]]")

    def trigger(self, job: str, parameters: dict[str, str] | None) -> int:
        """Queue a build; returns the queue item's id. ``parameters`` (None: the job takes
        none) are sent as a form body, never in the URL, so secret ones stay out of access logs."""
        url = self.job_url(job) + ("build" if parameters is None else "buildWithParameters")
        response = self.request("POST", url, data=parameters, crumb=True)
        location = response.headers.get("Location", "")
        tail = location.rstrip("/").rsplit("/", 1)[-1]
        if "/queue/item/" not in location or not tail.isdigit():
            raise RemoteError(f"the server queued no build (HTTP {response.status_code}, no queue item in Location: "
                              f"{location!r})", response.status_code)
        return int(tail)

    def queue_item(self, queue_id: int) -> dict[str, Any]:
        return self.json(self.queue_url(queue_id) + "api/json")

    def cancel_queue_item(self, queue_id: int) -> None:
        try:
            self.request("POST", f"{self.url}queue/cancelItem", params={"id": queue_id}, crumb=True)
        except RemoteError as exc:
            if exc.status != 404:  # older servers answer 404 after cancelling (JENKINS-21311)
                raise

    def queue_items(self) -> list[dict[str, Any]]:
        return list(self.json(f"{self.url}queue/api/json", f"items[id,task[name,url],params,{PARAMS_TREE}]")
                    .get("items") or [])

    def build(self, build_url: str, tree: str = BUILD_TREE) -> dict[str, Any]:
        return self.json(build_url + "api/json", tree)

    def builds_of(self, job: str) -> list[dict[str, Any]]:
        """The job's recent builds (number, url, queueId), newest first."""
        return list(self.json(self.job_url(job) + "api/json", "builds[number,url,queueId]{0,100}").get("builds") or [])

    def console(self, build_url: str, start: int) -> Console:
        response = self.request("GET", build_url + "logText/progressiveText", params={"start": start})
        size = response.headers.get("X-Text-Size")
        data = bytes(response.content)
        next_offset = int(size) if size is not None and size.isdigit() else start + len(data)
        return Console(data, next_offset, response.headers.get("X-More-Data", "").lower() == "true")

    def stop_build(self, build_url: str) -> None:
        self.request("POST", build_url + "stop", crumb=True)

    def kill_build(self, build_url: str) -> bool:
        """A hard kill (Pipeline builds); False when the build type has none."""
        try:
            self.request("POST", build_url + "kill", crumb=True)
        except RemoteError as exc:
            if exc.status in (400, 404, 405):
                return False
            raise
        return True

    def running_builds(self) -> list[dict[str, Any]]:
        """Every build an executor runs now (regular and flyweight executors), with its parameters."""
        exe = f"currentExecutable[url,number,building,{PARAMS_TREE}]"
        data = self.json(f"{self.url}computer/api/json",
                         f"computer[displayName,executors[{exe}],oneOffExecutors[{exe}]]")
        found: dict[str, dict[str, Any]] = {}
        for computer in data.get("computer") or []:
            for executor in [*(computer.get("executors") or []), *(computer.get("oneOffExecutors") or [])]:
                build = (executor or {}).get("currentExecutable")
                if build and build.get("url"):
                    found[build["url"]] = build
        return list(found.values())


def parameters_of(item: dict[str, Any]) -> dict[str, Any]:
    """A build's or a queue item's parameters, from its ``actions``."""
    values: dict[str, Any] = {}
    for action in item.get("actions") or []:
        for parameter in (action or {}).get("parameters") or []:
            if "name" in parameter:
                values[parameter["name"]] = parameter.get("value")
    return values


def _classify(exc: BaseException) -> RemoteError:
    """A python-jenkins or requests failure as a RemoteError. python-jenkins re-raises HTTP
    errors as its own exceptions; the original (with the response) is their context."""
    import requests

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, RedirectRefused):
            return RemoteError(str(seen), seen.status, transient=False)
        if isinstance(seen, requests.exceptions.HTTPError) and seen.response is not None:
            return RemoteError.from_response(seen.response)
        if isinstance(seen, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                             requests.exceptions.ChunkedEncodingError)):
            return RemoteError.from_connection(seen)
        seen = seen.__cause__ or seen.__context__
    return RemoteError(f"{type(exc).__name__}: {exc}", None, transient=False)


__all__ = ["BUILD_TREE", "Console", "JenkinsClient", "parameters_of"]
