"""A GitLab server for the tests, on 127.0.0.1: the REST API v4 endpoints the gitlab runner
uses, with bodies and headers shaped as GitLab documents them (GitLab 17: pipeline and job
objects, ``PRIVATE-TOKEN`` authentication, ``{"message": ...}`` errors, offset pagination with
``Link``/``X-Next-Page``/``X-Total`` headers and at most 100 items a page, job traces as plain
text).

A pipeline moves one tick forward each time it is read (``GET .../pipelines/:id``), so a
test is deterministic: a job starts at its ``start`` tick, releases one scripted trace chunk
per tick, then ends with its status, unless it ``holds`` (runs until cancelled).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

VERSION = "17.5.0"


@dataclass
class JobScript:
    name: str
    stage: str = "test"
    chunks: list[bytes] = field(default_factory=list)
    status: str = "success"
    start: int = 1
    holds: bool = False
    allow_failure: bool = False
    failure_reason: str = "script_failure"
    #: Once this job has ended, it is retried (GitLab's ``retry:``) as this job, under the same
    #: name and a new id; the jobs list then shows only the retry (unless ``include_retried``).
    retried_as: JobScript | None = None


@dataclass
class Pipeline:
    id: int
    iid: int
    project: Project
    ref: str
    variables: list[dict[str, str]]
    jobs: list[JobScript]
    job_ids: list[int]
    tick: int = 0
    cancelled_at: int | None = None
    #: Indexes of jobs that were retried (superseded by a later job of the same name).
    retried: set[int] = field(default_factory=set)
    #: A status forced by the test (one GitLab may add later).
    forced: str | None = None
    created_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()))

    def job_status(self, i: int) -> str:
        job = self.jobs[i]
        elapsed = self.tick - job.start
        if self.cancelled_at is not None and not self._ended_by(i, self.cancelled_at):
            return "canceled"
        if job.status in ("manual", "skipped", "created"):
            return job.status
        if elapsed < 0:
            return "pending" if self.tick > 0 else "created"
        if job.holds or elapsed < len(job.chunks):
            return "running"
        return job.status

    def current(self) -> list[int]:
        """Indexes of the jobs not retried: the latest attempt of each."""
        return [i for i in range(len(self.jobs)) if i not in self.retried]

    def retry_ended(self, next_job: int) -> int:
        """Jobs that ended at an earlier tick and have a retry are retried, starting at the next
        tick; returns the next free job id."""
        for i in self.current():
            retry = self.jobs[i].retried_as
            ended_before = self.tick - self.jobs[i].start > len(self.jobs[i].chunks)  # seen ended at least once
            if retry is not None and ended_before and self.job_status(i) in ("failed", "success") \
                    and self.cancelled_at is None:
                self.retried.add(i)
                self.jobs.append(replace(retry, name=self.jobs[i].name, stage=self.jobs[i].stage,
                                         start=self.tick + 1))
                self.job_ids.append(next_job)
                next_job += 1
        return next_job

    def _ended_by(self, i: int, tick: int) -> bool:
        job = self.jobs[i]
        return not job.holds and tick - job.start >= len(job.chunks) and job.status not in ("created",)

    def trace(self, i: int) -> bytes:
        job = self.jobs[i]
        last = self.tick if self.cancelled_at is None else min(self.tick, self.cancelled_at)
        released = max(0, min(len(job.chunks), last - job.start + 1))
        return b"".join(job.chunks[:released])

    @property
    def status(self) -> str:
        if self.forced:
            return self.forced
        statuses = [self.job_status(i) for i in self.current()]
        if self.cancelled_at is not None:
            return "canceling" if self.tick == self.cancelled_at else "canceled"
        if any(s == "running" for s in statuses) or any(self.jobs[i].retried_as for i in self.current()):
            return "running"  # a job with a retry to come is not over
        if any(s in ("pending", "created") for s in statuses):
            return "pending" if self.tick > 0 else "created"
        if any(s == "manual" for s in statuses):
            return "manual"
        if all(s == "skipped" for s in statuses):
            return "skipped"
        if any(s == "failed" and not self.jobs[i].allow_failure for i, s in zip(self.current(), statuses, strict=True)):
            return "failed"
        return "success"


@dataclass
class Project:
    id: int
    path: str
    scripts: list[list[JobScript]] = field(default_factory=list)
    pipelines: dict[int, Pipeline] = field(default_factory=dict)


class GitLabServer:
    """Start with ``with GitLabServer() as server:``; ``server.url`` is its base URL."""

    def __init__(self, token: str = "glpat-Tx9bZ2kQe7Lm4Np8Rs1V", host: str = "127.0.0.1") -> None:
        self.token = token
        self.projects: dict[str, Project] = {}
        self.faults: list[tuple[str, str, int, dict[str, str], Any, list[int]]] = []
        self.requests: list[tuple[str, str, dict[str, list[str]], dict[str, str], bytes]] = []
        self.times: list[float] = []
        self.lock = threading.RLock()
        self.next_id, self.next_job = 5000, 90000
        self.httpd = ThreadingHTTPServer((host, 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> GitLabServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add_project(self, path: str, *pipelines: list[JobScript]) -> Project:
        with self.lock:
            project = self.projects[path] = Project(len(self.projects) + 1, path, [list(p) for p in pipelines])
            return project

    def fail(self, method: str, pattern: str, status: int, times: int = 1, headers: dict[str, str] | None = None,
             body: Any = None) -> None:
        with self.lock:
            self.faults.append((method, pattern, status, dict(headers or {}),
                                body if body is not None else {"message": f"{status} Fault"}, [times]))

    def count(self, method: str, pattern: str) -> int:
        with self.lock:
            return sum(1 for m, p, *_ in self.requests if m == method and re.search(pattern, p))

    def pipeline(self, pipeline_id: int) -> Pipeline:
        return next(p for pr in self.projects.values() for pid, p in pr.pipelines.items() if pid == pipeline_id)

    def wait_for(self, condition: Any, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if condition():
                    return
            time.sleep(0.01)
        raise AssertionError("the GitLab server never reached the expected state")

    def create(self, project: Project, ref: str, variables: list[dict[str, str]]) -> Pipeline:
        jobs = project.scripts.pop(0) if project.scripts else [JobScript("build")]
        pipeline = Pipeline(self.next_id, len(project.pipelines) + 1, project, ref, variables, jobs,
                            list(range(self.next_job, self.next_job + len(jobs))))
        self.next_id += 1
        self.next_job += len(jobs)
        project.pipelines[pipeline.id] = pipeline
        return pipeline

    # -- JSON shapes (as the API documentation shows them) ------------------------------------
    def pipeline_json(self, p: Pipeline) -> dict[str, Any]:
        return {"id": p.id, "iid": p.iid, "project_id": p.project.id, "sha": "a91957a858320c0e17f3a0eca7cfacbff50ea29a",
                "ref": p.ref, "status": p.status, "source": "api", "created_at": p.created_at, "updated_at": p.created_at,
                "web_url": f"{self.url}/{p.project.path}/-/pipelines/{p.id}", "before_sha": "0" * 40, "tag": False,
                "yaml_errors": None, "user": {"id": 1, "username": "alice", "name": "Alice"}, "started_at": None,
                "finished_at": None, "committed_at": None, "duration": None, "queued_duration": None, "coverage": None,
                "detailed_status": {"icon": f"status_{p.status}", "text": p.status, "label": p.status,
                                    "group": p.status}}

    def job_json(self, p: Pipeline, i: int) -> dict[str, Any]:
        job, status = p.jobs[i], p.job_status(i)
        return {"id": p.job_ids[i], "name": job.name, "stage": job.stage, "status": status, "ref": p.ref,
                "allow_failure": job.allow_failure, "tag": False, "coverage": None, "created_at": p.created_at,
                "started_at": None, "finished_at": None, "duration": None, "queued_duration": None,
                "failure_reason": job.failure_reason if status == "failed" else None,
                "web_url": f"{self.url}/{p.project.path}/-/jobs/{p.job_ids[i]}",
                "pipeline": {"id": p.id, "project_id": p.project.id, "ref": p.ref, "status": p.status},
                "user": {"id": 1, "username": "alice"}, "artifacts": [], "runner": None}


def _handler(server: GitLabServer) -> type[BaseHTTPRequestHandler]:
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
                server.requests.append((method, path, query, dict(self.headers), body))
                server.times.append(time.monotonic())
                for f_method, pattern, status, headers, fbody, left in server.faults:
                    if f_method == method and re.search(pattern, path) and left[0] > 0:
                        left[0] -= 1
                        return self._json(fbody, status, headers)
                if self.headers.get("PRIVATE-TOKEN") != server.token:
                    return self._json({"message": "401 Unauthorized"}, 401)
                m = re.fullmatch(r"/api/v4/projects/([^/]+)(/.*)", path)
                project = server.projects.get(unquote(m.group(1))) if m else None
                if project is None or m is None:
                    return self._json({"message": "404 Project Not Found"}, 404)
                self._route(method, project, m.group(2), query, body)

        def _route(self, method: str, project: Project, rest: str, query: dict[str, list[str]], body: bytes) -> None:
            if rest == "/pipeline" and method == "POST":
                data = json.loads(body or b"{}")
                if not data.get("ref"):
                    return self._json({"error": "ref is missing"}, 400)
                if data["ref"] == "missing":
                    return self._json({"message": {"base": ["Reference not found"]}}, 400)
                pipeline = server.create(project, data["ref"], list(data.get("variables") or []))
                return self._json(server.pipeline_json(pipeline), 201)
            if rest == "/pipelines" and method == "GET":
                found = [server.pipeline_json(p) for p in reversed(project.pipelines.values())
                         if p.status == query.get("status", [p.status])[0]]
                return self._page(found, query)
            m = re.fullmatch(r"/pipelines/(\d+)(/[a-z]+)?", rest)
            if m:
                pipeline = project.pipelines.get(int(m.group(1)))
                if pipeline is None:
                    return self._json({"message": "404 Not found"}, 404)
                action = m.group(2)
                if action is None and method == "GET":
                    pipeline.tick += 1
                    server.next_job = pipeline.retry_ended(server.next_job)
                    return self._json(server.pipeline_json(pipeline))
                if action == "/jobs" and method == "GET":
                    shown = range(len(pipeline.jobs)) if query.get("include_retried") == ["true"] else pipeline.current()
                    return self._page([server.job_json(pipeline, i) for i in shown], query)
                if action == "/variables" and method == "GET":
                    return self._json(pipeline.variables)
                if action == "/cancel" and method == "POST":
                    if pipeline.status not in ("success", "failed", "canceled", "skipped"):
                        pipeline.cancelled_at = pipeline.tick
                    return self._json(server.pipeline_json(pipeline))
            m = re.fullmatch(r"/jobs/(\d+)/trace", rest)
            if m and method == "GET":
                for pipeline in project.pipelines.values():
                    if int(m.group(1)) in pipeline.job_ids:
                        data = pipeline.trace(pipeline.job_ids.index(int(m.group(1))))
                        return self._send(200, data, {"Content-Type": "text/plain"})
            return self._json({"message": "404 Not found"}, 404)

        def _page(self, items: list[Any], query: dict[str, list[str]]) -> None:
            per_page = min(100, int(query.get("per_page", ["20"])[0]))
            page = int(query.get("page", ["1"])[0])
            pages = max(1, -(-len(items) // per_page))
            headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(len(items)),
                       "X-Total-Pages": str(pages), "X-Next-Page": str(page + 1) if page < pages else "",
                       "X-Prev-Page": str(page - 1) if page > 1 else ""}
            base = f"{server.url}{urlsplit(self.path).path}"
            links = []
            flat = {k: v[-1] for k, v in query.items()}
            if page < pages:
                links.append(f'<{base}?{urlencode({**flat, "page": page + 1, "per_page": per_page})}>; rel="next"')
            links.append(f'<{base}?{urlencode({**flat, "page": 1, "per_page": per_page})}>; rel="first"')
            headers["Link"] = ", ".join(links)
            self._json(items[(page - 1) * per_page: page * per_page], 200, headers)

        def _json(self, value: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(value).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


__all__ = ["VERSION", "GitLabServer", "JobScript", "Pipeline", "Project"]
