"""One delivery attempt against a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from asyncio.subprocess import PIPE, STDOUT

from shared.notify.activities import notify_callback
from shared.notify.callback import post_callback
from shared.settings import reset_settings_cache
from tests.integration.entrypoints.callback_server import CallbackServer

LOOPBACK = ["127.0.0.1"]  # CALLBACK_ALLOW_HTTP_HOSTS of a local setup
RESULT = {"id": "job-7", "status": "succeeded", "images": [{"blob": "job-7/0.png"}]}


async def test_delivered_payload_and_headers(callback_server, monkeypatch):
    # The activity reads its settings as a worker does: from the environment, once.
    for name, value in {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "AZURE_OPENAI_ENDPOINT": "http://127.0.0.1:9",
        "IMAGE_REQUESTS_QUEUE": "image-requests",
        "CALLBACK_ALLOW_HTTP_HOSTS": "127.0.0.1",
        "PUBLIC_BASE_URL": "https://img.example.com",
        "STATUS_LINK_SECRET": "callback-delivery-tests-link-secret",
    }.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    try:
        outcome = await notify_callback(
            {"url": callback_server.url, "job_id": "job-7", "attempt": 1, "result": RESULT}
        )
    finally:
        reset_settings_cache()
    assert outcome["delivered"] is True
    assert outcome["http_status"] == 200
    (got,) = callback_server.received
    assert got.body["id"] == "job-7"
    assert got.body["status"] == "succeeded"
    link = got.body["images"][0]["url"]
    assert link.startswith("https://img.example.com/api/status/job-7/images/0?expires=")
    assert got.body["statusQueryGetUri"].startswith("https://img.example.com/api/status/job-7?")
    assert got.headers["Idempotency-Key"] == "job-7-completion"
    assert got.headers["Content-Type"].startswith("application/json")


async def test_server_errors_are_retryable_with_the_receivers_hint(callback_server, monkeypatch):
    callback_server.statuses = [503]
    callback_server.extra_headers = {"Retry-After": "7"}
    outcome = await post_callback(
        callback_server.url, RESULT, job_id="j", attempt=1, http_hosts=LOOPBACK
    )
    assert outcome == {
        "delivered": False,
        "retryable": True,
        "http_status": 503,
        "retry_after_s": 7.0,
        "reason": "callback answered HTTP 503",
    }


async def test_client_errors_are_final(callback_server, monkeypatch):
    callback_server.statuses = [410]
    outcome = await post_callback(
        callback_server.url, RESULT, job_id="j", attempt=1, http_hosts=LOOPBACK
    )
    assert outcome["delivered"] is False
    assert outcome["retryable"] is False


async def test_redirects_are_not_followed(callback_server, monkeypatch):
    callback_server.statuses = [307]
    outcome = await post_callback(
        callback_server.url, RESULT, job_id="j", attempt=1, http_hosts=LOOPBACK
    )
    assert outcome["delivered"] is False
    assert len(callback_server.received) == 1


async def test_plain_http_is_refused_without_the_allow_list(callback_server):
    outcome = await post_callback(callback_server.url, RESULT, job_id="j", attempt=1)
    assert outcome["delivered"] is False
    assert outcome["retryable"] is False
    assert "https" in outcome["reason"]
    assert callback_server.received == []


async def test_unreachable_receiver_is_retryable(monkeypatch):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = await post_callback(
        f"http://127.0.0.1:{port}/cb", RESULT, job_id="j", attempt=1, http_hosts=LOOPBACK
    )
    assert outcome["delivered"] is False
    assert outcome["retryable"] is True
    assert "unreachable" in outcome["reason"]


async def test_a_fresh_worker_logs_no_callback_signature(callback_server):
    """A worker whose first work is a callback (Power Automate's listCallbackUrl() carries
    `sig=`) must not log that URL: Azure ships INFO logs to Application Insights unscrubbed.
    A fresh process, as a newly scaled-out worker is, with INFO logging on."""
    url = f"{callback_server.url}?api-version=1&sp=%2Ftriggers&sv=1.0&sig=CALLBACKSECRET42"
    script = (
        "import asyncio, logging, sys\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        "from shared.notify.callback import post_callback\n"
        f"out = asyncio.run(post_callback({url!r}, {RESULT!r}, job_id='j', attempt=1,"
        " http_hosts=['127.0.0.1']))\n"
        "assert out['delivered'], out\n"
    )
    env = dict(os.environ)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, env=env, stdout=PIPE, stderr=STDOUT
    )
    output = (await asyncio.wait_for(child.communicate(), 60))[0].decode()
    assert child.returncode == 0, output
    assert len(callback_server.received) == 1
    assert "CALLBACKSECRET42" not in output


async def test_a_host_name_resolving_inside_is_refused():
    """https://localhost/... passes the URL checks (a name, https) but would make the app call
    into its own machine: refused at delivery, for good, before any request."""
    outcome = await post_callback("https://localhost:9/hook", RESULT, job_id="j", attempt=1)
    assert outcome["delivered"] is False
    assert outcome["retryable"] is False
    assert "private, loopback or link-local" in outcome["reason"]


async def test_a_redirect_to_a_willing_receiver_is_still_not_followed(callback_server):
    """Callbacks never follow redirects, not even within loopback to a receiver that would take
    the POST: the answer is the first receiver's own, final, and names only its status."""
    other = await CallbackServer().start()
    try:
        callback_server.statuses = [308]
        callback_server.extra_headers = {"Location": other.url}
        outcome = await post_callback(
            callback_server.url, RESULT, job_id="j", attempt=1, http_hosts=LOOPBACK
        )
    finally:
        await other.stop()
    assert outcome["delivered"] is False
    assert outcome["retryable"] is False
    assert outcome["reason"] == "callback answered HTTP 308"
    assert len(callback_server.received) == 1
    assert other.received == []


async def test_a_non_canonical_url_is_refused_at_delivery_before_any_request(callback_server):
    """Checked at the POST and again at delivery (a job accepted before the rules existed): a CR
    LF in the URL would let the caller write headers of our request."""
    port = callback_server.url.split(":")[2].split("/")[0]
    for url in (
        f"{callback_server.url}\r\nX-Injected: 1",
        f"http://127.1:{port}/hooks/job-done",
        f"http://127.0.0.1:{port}/hooks/job-done#frag",
    ):
        outcome = await post_callback(url, RESULT, job_id="j", attempt=1, http_hosts=LOOPBACK)
        assert outcome["delivered"] is False
        assert outcome["retryable"] is False
        assert outcome["reason"].startswith("callback_url ")
    assert callback_server.received == []
