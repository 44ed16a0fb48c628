"""A Jenkins server for the tests, on 127.0.0.1: the remote access API endpoints the jenkins
runner uses, answering with bodies and headers shaped as Jenkins documents them (2.4xx LTS:
``api/json`` of jobs, queue items and builds with their ``_class``, ``Location`` of a queued
build, ``logText/progressiveText`` with ``X-Text-Size``/``X-More-Data``, the CSRF crumb issuer,
HTTP basic authentication with an API token).

Builds move forward when they are asked about, not with time, so a test is deterministic: a
queue item answers ``why`` for ``queue_polls`` reads, then becomes a build; each console read
releases the next scripted chunk; a build whose chunks are all out ends with its result,
unless it ``holds`` (runs until stopped). Faults (a status, headers, a body) can be queued for
any request.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSION = "2.479.1"


@dataclass
class Script:
    """How one build of a job goes."""

    chunks: list[bytes] = field(default_factory=list)
    result: str = "SUCCESS"
    queue_polls: int = 1
    why: str = "Waiting for next available executor"
    stuck: bool = False
    #: The server cancels the queue item (someone cancelled it in the UI).
    cancelled_on_server: bool = False
    #: The build keeps running after its chunks until stopped.
    holds: bool = False
    #: ``stop`` is ignored (a build that needs ``kill``).
    ignores_stop: bool = False
    kind: str = "hudson.model.FreeStyleBuild"


@dataclass
class Build:
    number: int
    queue_id: int
    script: Script
    parameters: dict[str, str]
    released: int = 0
    building: bool = True
    result: str | None = None
    timestamp: int = field(default_factory=lambda: int(time.time() * 1000))

    _key: tuple[int, int] = (0, 0)
    _buf: bytearray = field(default_factory=bytearray)

    @property
    def log(self) -> bytearray:
        """The console so far (kept incrementally: a big console costs no quadratic copying)."""
        chunks, (key_id, key_released) = self.script.chunks, self._key
        if key_id != id(chunks) or key_released > self.released:
            self._buf, key_released = bytearray(), 0
        for chunk in chunks[key_released: self.released]:
            self._buf += chunk
        self._key = (id(chunks), self.released)
        return self._buf


@dataclass
class QueueItem:
    id: int
    job: Job
    script: Script
    parameters: dict[str, str]
    polls: int = 0
    cancelled: bool = False
    build: Build | None = None


@dataclass
class Job:
    name: str
    parameters: list[str] = field(default_factory=list)
    buildable: bool = True
    scripts: list[Script] = field(default_factory=list)
    builds: list[Build] = field(default_factory=list)
    next_number: int = 1


@dataclass
class Fault:
    method: str
    pattern: str
    status: int
    headers: dict[str, str]
    body: bytes
    times: int


class JenkinsServer:
    """Start with ``with JenkinsServer() as server:``; ``server.url`` is its root URL."""

    def __init__(self, user: str = "alice", token: str = "11a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7", crumb: bool = True,
                 host: str = "127.0.0.1") -> None:
        self.user, self.token, self.use_crumb = user, token, crumb
        self.crumb = "crumb-1"
        self.jobs: dict[str, Job] = {}
        self.queue: dict[int, QueueItem] = {}
        self.faults: list[Fault] = []
        #: Requests that wait for an event before they are answered (a server that hangs).
        self.holds: list[tuple[str, str, threading.Event]] = []
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str], bytes]] = []
        #: When each request arrived (time.monotonic()), in the order of ``requests``.
        self.times: list[float] = []
        self.lock = threading.RLock()
        self.next_queue_id = 100
        self.httpd = ThreadingHTTPServer((host, 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> JenkinsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- set up --------------------------------------------------------------------------------
    def add_job(self, name: str, *scripts: Script, parameters: list[str] | None = None, buildable: bool = True) -> Job:
        with self.lock:
            job = self.jobs[name] = Job(name, list(parameters or []), buildable, list(scripts))
            return job

    def fail(self, method: str, pattern: str, status: int, times: int = 1, headers: dict[str, str] | None = None,
             body: bytes | str = b"") -> None:
        """The next ``times`` requests whose path matches ``pattern`` get ``status``."""
        with self.lock:
            self.faults.append(Fault(method, pattern, status, dict(headers or {}), body.encode() if isinstance(body, str)
                                     else body, times))

    def hold(self, method: str, pattern: str) -> threading.Event:
        """Requests whose path matches ``pattern`` hang until the returned event is set."""
        release = threading.Event()
        with self.lock:
            self.holds.append((method, pattern, release))
        return release

    def expire_crumb(self) -> None:
        with self.lock:
            self.crumb = f"crumb-{int(self.crumb.split('-')[1]) + 1}"

    def count(self, method: str, pattern: str) -> int:
        with self.lock:
            return sum(1 for m, p, *_ in self.requests if m == method and re.search(pattern, p))

    def job_url(self, name: str) -> str:
        return self.url + "".join(f"job/{part}/" for part in name.split("/"))

    def build(self, job: str, number: int) -> Build:
        return next(b for b in self.jobs[job].builds if b.number == number)

    def wait_for(self, condition: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if condition():
                    return
            time.sleep(0.01)
        raise AssertionError("the Jenkins server never reached the expected state")

    # -- JSON shapes (as api/json shows them) ---------------------------------------------------
    def _job_json(self, job: Job) -> dict[str, Any]:
        props: list[dict[str, Any]] = []
        if job.parameters:
            props.append({"_class": "hudson.model.ParametersDefinitionProperty", "parameterDefinitions": [
                {"_class": "hudson.model.StringParameterDefinition", "name": p, "type": "StringParameterDefinition",
                 "defaultParameterValue": {"_class": "hudson.model.StringParameterValue", "name": p, "value": ""}}
                for p in job.parameters]})
        short = job.name.rsplit("/", 1)[-1]
        return {"_class": "hudson.model.FreeStyleProject", "name": short, "fullName": job.name,
                "url": self.job_url(job.name), "buildable": job.buildable, "inQueue": False,
                "nextBuildNumber": job.next_number, "property": props,
                "builds": [{"_class": b.script.kind, "number": b.number, "url": self._build_url(job, b),
                            "queueId": b.queue_id} for b in reversed(job.builds)]}

    def _build_url(self, job: Job, build: Build) -> str:
        return self.job_url(job.name) + f"{build.number}/"

    def _params_action(self, params: dict[str, str]) -> list[dict[str, Any]]:
        if not params:
            return [{"_class": "hudson.model.CauseAction", "causes": [{"shortDescription": "Started by user alice"}]}]
        return [{"_class": "hudson.model.ParametersAction", "parameters": [
            {"_class": "hudson.model.StringParameterValue", "name": k, "value": v} for k, v in params.items()]},
            {"_class": "hudson.model.CauseAction", "causes": [{"shortDescription": "Started by user alice"}]}]

    def _item_json(self, item: QueueItem) -> dict[str, Any]:
        base = {"actions": self._params_action(item.parameters), "id": item.id, "inQueueSince": 0,
                "params": "".join(f"\n{k}={v}" for k, v in item.parameters.items()),
                "task": {"_class": "hudson.model.FreeStyleProject", "name": item.job.name.rsplit("/", 1)[-1],
                         "url": self.job_url(item.job.name), "color": "blue"},
                "url": f"queue/item/{item.id}/", "blocked": False, "buildable": True, "stuck": False, "why": None}
        if item.cancelled or item.build is not None:
            base.update({"_class": "hudson.model.Queue$LeftItem", "cancelled": item.cancelled, "executable": None})
            if item.build is not None:
                base["executable"] = {"_class": item.build.script.kind, "number": item.build.number,
                                      "url": self._build_url(item.job, item.build)}
            base["why"] = None
            return base
        base.update({"_class": "hudson.model.Queue$BuildableItem", "why": item.script.why, "stuck": item.script.stuck,
                     "buildableStartMilliseconds": 0, "pending": False})
        return base

    def _build_json(self, job: Job, build: Build) -> dict[str, Any]:
        return {"_class": build.script.kind, "actions": self._params_action(build.parameters),
                "building": build.building, "displayName": f"#{build.number}", "duration": 0 if build.building else 1234,
                "fullDisplayName": f"{job.name} #{build.number}", "id": str(build.number), "number": build.number,
                "queueId": build.queue_id, "result": build.result, "timestamp": build.timestamp,
                "url": self._build_url(job, build)}

    # -- how things move ---------------------------------------------------------------------------
    def _advance_item(self, item: QueueItem) -> None:
        if item.cancelled or item.build is not None:
            return
        item.polls += 1
        if item.script.cancelled_on_server and item.polls >= item.script.queue_polls:
            item.cancelled = True
        elif not item.script.stuck and item.polls > item.script.queue_polls:
            self._start_build(item)

    def _start_build(self, item: QueueItem) -> None:
        job = item.job
        build = Build(job.next_number, item.id, item.script, item.parameters)
        job.next_number += 1
        job.builds.append(build)
        item.build = build

    def _release(self, build: Build) -> None:
        if build.building and build.released < len(build.script.chunks):
            build.released += 1
        if build.building and build.released >= len(build.script.chunks) and not build.script.holds:
            build.building, build.result = False, build.script.result


def _handler(server: JenkinsServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # no Nagle wait between headers and body (delayed-ACK stalls)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            path, query = parts.path, parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with server.lock:
                waits = [release for m, pattern, release in server.holds if m == method and re.search(pattern, path)]
            for release in waits:
                release.wait(60)
            with server.lock:
                server.requests.append((method, path, query, dict(self.headers), body))
                server.times.append(time.monotonic())
                for fault in server.faults:
                    if fault.method == method and re.search(fault.pattern, path) and fault.times > 0:
                        fault.times -= 1
                        return self._send(fault.status, fault.body or _error_page(fault.status, "Fault"), fault.headers)
                if not self._authorized():
                    return self._send(401, _error_page(401, "Unauthorized"), {"WWW-Authenticate": 'Basic realm="Jenkins"'})
                if method == "POST" and server.use_crumb and self.headers.get("Jenkins-Crumb") != server.crumb:
                    return self._send(403, _error_page(403, "No valid crumb was included in the request"))
                form = {k: v[-1] for k, v in parse_qs(body.decode()).items()} if body else {}
                try:
                    self._route(method, path, query, form)
                except KeyError:
                    self._send(404, _error_page(404, "Not Found"))

        def _authorized(self) -> bool:
            if not server.user:
                return True
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return False
            return base64.b64decode(header[6:]).decode() == f"{server.user}:{server.token}"

        def _route(self, method: str, path: str, query: dict[str, list[str]], form: dict[str, str]) -> None:
            if path == "/" and method == "GET":
                return self._send(200, b"<html><body>Dashboard [Jenkins]</body></html>", {"X-Jenkins": VERSION})
            if path == "/crumbIssuer/api/json":
                if not server.use_crumb:
                    raise KeyError(path)
                return self._json({"_class": "hudson.security.csrf.DefaultCrumbIssuer", "crumb": server.crumb,
                                   "crumbRequestField": "Jenkins-Crumb"})
            if path == "/queue/api/json":
                items = [server._item_json(i) for i in server.queue.values() if not i.cancelled and i.build is None]
                return self._json({"_class": "hudson.model.Queue", "discoverableItems": [], "items": items})
            if path == "/queue/cancelItem" and method == "POST":
                item = server.queue[int(query["id"][0])]
                if item.build is None:
                    item.cancelled = True
                return self._send(302, b"", {"Location": server.url})
            m = re.fullmatch(r"/queue/item/(\d+)/api/json", path)
            if m:
                item = server.queue[int(m.group(1))]
                server._advance_item(item)
                return self._json(server._item_json(item))
            if path == "/computer/api/json":
                running = [server._build_json(j, b) for j in server.jobs.values() for b in j.builds if b.building]
                executors = [{"currentExecutable": b} for b in running] + [{"currentExecutable": None}]
                return self._json({"_class": "hudson.model.ComputerSet", "computer": [
                    {"_class": "hudson.model.Hudson$MasterComputer", "displayName": "Built-In Node",
                     "executors": executors, "oneOffExecutors": []}]})
            m = re.fullmatch(r"((?:/job/[^/]+)+)/(.*)", path)
            if not m:
                raise KeyError(path)
            job = server.jobs[_job_name(m.group(1))]
            rest = m.group(2)
            if rest == "api/json":
                return self._json(server._job_json(job))
            if rest in ("build", "buildWithParameters") and method == "POST":
                if not job.buildable:
                    return self._send(409, _error_page(409, "Conflict"))
                if rest == "buildWithParameters" and not job.parameters:
                    return self._send(500, _error_page(500, "java.lang.IllegalStateException: not parameterized"))
                params = {k: v for k, v in form.items() if k in job.parameters}
                script = job.scripts.pop(0) if job.scripts else Script()
                item = QueueItem(server.next_queue_id, job, script, params)
                server.next_queue_id += 1
                server.queue[item.id] = item
                return self._send(201, b"", {"Location": f"{server.url}queue/item/{item.id}/"})
            m2 = re.fullmatch(r"(\d+)/(.*)", rest)
            if not m2:
                raise KeyError(path)
            build = server.build(job.name, int(m2.group(1)))
            action = m2.group(2)
            if action == "api/json":
                return self._json(server._build_json(job, build))
            if action == "logText/progressiveText":
                start = int(query.get("start", ["0"])[0])
                server._release(build)
                log = build.log
                if start > len(log):
                    start = 0  # as Jenkins does: the text rolled over
                headers = {"X-Text-Size": str(len(log)), "Content-Type": "text/plain;charset=UTF-8"}
                if build.building:
                    headers["X-More-Data"] = "true"
                return self._send(200, log[start:], headers)
            if action == "stop" and method == "POST":
                if build.building and not build.script.ignores_stop:
                    build.building, build.result = False, "ABORTED"
                return self._send(302, b"", {"Location": server._build_url(job, build)})
            if action == "kill" and method == "POST":
                if build.script.kind != "org.jenkinsci.plugins.workflow.job.WorkflowRun":
                    raise KeyError(path)
                build.building, build.result = False, "ABORTED"
                return self._send(302, b"", {"Location": server._build_url(job, build)})
            if action == "" and method == "GET":
                return self._send(200, b"<html><body>build</body></html>")
            raise KeyError(path)

        def _json(self, value: Any) -> None:
            self._send(200, json.dumps(value).encode(), {"Content-Type": "application/json;charset=utf-8"})

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("X-Jenkins", VERSION)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def _job_name(path: str) -> str:
    return "/".join(p for p in path.split("/job/") if p)


def _error_page(status: int, text: str) -> bytes:
    return (f"<html><head><title>Error {status} {text}</title></head><body><h2>HTTP ERROR {status} {text}</h2>"
            f"<table><tr><th>URI:</th><td>/</td></tr><tr><th>STATUS:</th><td>{status}</td></tr></table></body></html>"
            ).encode()


__all__ = ["VERSION", "Build", "JenkinsServer", "Job", "Script"]
