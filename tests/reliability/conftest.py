"""A Functions host per test, whose whole output is kept, on the session's Azurite and emulator.

The reliability tests crash the host, scan every line it printed and count what the emulator
billed, so each test gets its own host process (own Durable data dir, same port across restarts)
whose output is tee'd to a file: ``ManagedProcess`` keeps only the last lines, and a secret that
scrolled past would go unseen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.azurite import AzuriteEndpoints
from devstack.launch import REPO_ROOT, LocalHost, app_env
from tests.conftest import EmulatorHandle

DURABLE_PREFIX = "/runtime/webhooks/durabletask"
END_STATES = ("succeeded", "failed")


class HostUnderTest(LocalHost):
    """The app on its own host, every line it prints appended to ``log_path``."""

    def __init__(self, data_dir: Path, env: dict[str, str], log_path: Path) -> None:
        super().__init__(REPO_ROOT, data_dir, env, log_path=log_path)

    @property
    def log(self) -> str:
        path = self.log_path
        if path is None or not path.exists():
            return ""
        return path.read_text(encoding="utf-8", errors="replace")

    def instances(self) -> list[dict[str, Any]]:
        """Every orchestration instance the engine knows (its Durable HTTP API), page by page:
        a page holds 100, and the x-ms-continuation-token header asks for the next (as Azure)."""
        found: list[dict[str, Any]] = []
        headers: dict[str, str] = {}
        while True:
            r = httpx.get(
                f"{self.base_url}{DURABLE_PREFIX}/instances/", headers=headers, timeout=30
            )
            r.raise_for_status()
            found.extend(r.json())
            token = r.headers.get("x-ms-continuation-token")
            if not token:
                return found
            headers = {"x-ms-continuation-token": token}


@pytest.fixture
def start_host(
    azurite: AzuriteEndpoints, emulator: EmulatorHandle, tmp_path: Path
) -> Iterator[Callable[..., HostUnderTest]]:
    """``start_host(storage=None, **settings)`` → a started host; all are stopped afterwards."""
    hosts: list[HostUnderTest] = []

    def start(storage: str | None = None, **settings: str) -> HostUnderTest:
        n = len(hosts)
        host = HostUnderTest(
            tmp_path / f"host-{n}",
            app_env(
                storage or azurite.connection_string,
                emulator.base_url,
                emulator.api_key,
                **settings,
            ),
            tmp_path / f"host-{n}.log",
        )
        hosts.append(host)
        host.start()
        return host

    yield start
    for host in hosts:
        host.stop()


@dataclass
class Job:
    prompt: str
    body: dict[str, Any]
    id: str | None = None
    status_url: str | None = None
    final: httpx.Response | None = None
    seen: list[int] = field(default_factory=list)
    progress: dict[str, Any] = field(default_factory=dict)  # the last 202's progress

    @property
    def stage(self) -> str | None:
        return self.progress.get("stage")

    @property
    def done(self) -> bool:
        return self.final is not None


def post_job(
    client: httpx.Client, api_url: str, body: dict[str, Any], route: str = "images"
) -> Job:
    """Start a job (`route="images/edits"` for an edit) and keep its status URL."""
    r = client.post(f"{api_url}/{route}", json=body)
    assert r.status_code == 202, r.text
    data = r.json()
    return Job(body["prompt"], body, data["id"], data["statusQueryGetUri"])


def poll_until_done(
    client: httpx.Client,
    jobs: list[Job],
    *,
    deadline_s: float,
    between: Callable[[], None] | None = None,
) -> list[Job]:
    """Follow every job's status URL until none answers 202, or fail naming the stragglers.

    A connection error (the host is down or restarting) is not an answer: polling goes on.
    ``between`` runs after each round (a crash test kills the host from there).
    """
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for job in jobs:
            if job.done:
                continue
            assert job.status_url is not None
            try:
                r = client.get(job.status_url)
            except httpx.TransportError:
                continue
            job.seen.append(r.status_code)
            if r.status_code != 202:
                job.final = r
            else:
                job.progress = r.json().get("progress") or {}
        if all(j.done for j in jobs):
            return jobs
        if between is not None:
            between()
        time.sleep(0.2)  # the polling interval, not a wait-for: the loop has a deadline
    pending = [(j.id, j.seen[-3:]) for j in jobs if not j.done]
    raise AssertionError(f"{len(pending)} job(s) still running after {deadline_s}s: {pending}")


def emulator_patch(emulator: EmulatorHandle, **changes: Any) -> None:
    emulator.configure(**changes)


def emulator_stats(emulator: EmulatorHandle) -> dict[str, Any]:
    return emulator.stats()


class BlobGate:
    """A pass-through proxy in front of Azurite's blob endpoint that holds the first block-list
    commit (``PUT ?comp=blocklist``) it sees, until ``drop()``: the one way to stop the app
    between "every block staged, receipt kept" and "blob committed" without a timer. The held
    commit is never forwarded, so the blob stays uncommitted, as if the host had died just
    before sending it. Every other request (and every commit after the first) goes through
    byte for byte, SharedKey signatures included: they sign the path, not the host.
    """

    _HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "host"})

    def __init__(self, azurite: AzuriteEndpoints) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.azurite = azurite
        self.held = threading.Event()  # a commit is being held
        self._dropped = threading.Event()
        self.held_body = b""
        self._armed = True
        self._lock = threading.Lock()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                gate._handle(self)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def connection_string(self) -> str:
        """Azurite's connection string with the blob endpoint on this proxy."""
        port = self._server.server_address[1]
        return self.azurite.connection_string.replace(
            f"BlobEndpoint={self.azurite.blob_url}",
            f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1",
        )

    def drop(self) -> None:
        """Let go of the held commit without forwarding it; later commits pass."""
        self._dropped.set()

    def close(self) -> None:
        self._dropped.set()
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, req: Any) -> None:
        import http.client

        length = int(req.headers.get("Content-Length") or 0)
        body = req.rfile.read(length) if length else b""
        with self._lock:
            hold = self._armed and req.command == "PUT" and "comp=blocklist" in req.path
            if hold:
                self._armed = False
        if hold:
            self.held_body = body
            self.held.set()
            self._dropped.wait(timeout=300)
            req.close_connection = True
            return  # no answer at all: the sender (SIGKILLed by now) never learns
        upstream = http.client.HTTPConnection(self.azurite.host, self.azurite.blob_port, timeout=60)
        try:
            headers = {k: v for k, v in req.headers.items() if k.lower() not in self._HOP}
            headers["Host"] = f"{self.azurite.host}:{self.azurite.blob_port}"
            upstream.request(req.command, req.path, body=body or None, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        req.send_response(answer.status, answer.reason)
        head = req.command == "HEAD"  # a HEAD's Content-Length is the blob's size: kept as sent
        for key, value in answer.getheaders():
            if key.lower() not in self._HOP and (head or key.lower() != "content-length"):
                req.send_header(key, value)
        if not head:
            req.send_header("Content-Length", str(len(data)))
        req.end_headers()
        if req.command != "HEAD":
            req.wfile.write(data)


@pytest.fixture
def blob_gate(azurite: AzuriteEndpoints) -> Iterator[BlobGate]:
    gate = BlobGate(azurite)
    yield gate
    gate.close()
