"""Hostile raw bodies on `POST /api/images/edits`: never a 5xx, never a job, never a secret.

Each request is written to a socket as it is (tests/integration/host/rawhttp.py: httpx would
normalise a broken multipart body or refuse it) with its own Idempotency-Key, so the test knows
the id its job would have had (`instance_id_for`) and checks afterwards that the Durable engine
has no such job (`GET /api/images/{id}` is 404) and Blob Storage nothing under its folder. The
answer must be a 4xx with the API's JSON error body, naming the field at fault; the host must log
no traceback or ERROR line for it. An input reference that carries a signature (`?sig=...`) and
is refused must not come back in the error, nor reach the host's log.

The host runs with the devstack's settings (plain http allowed from loopback, so Azurite's and the
emulator's URLs can be fetched), except where a test says production's: no plain-http hosts.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from azure.storage.blob import BlobServiceClient

from devstack.azurite import AzuriteEndpoints
from devstack.launch import app_env
from shared.blueprints.http_api import instance_id_for
from tests.conftest import EmulatorHandle
from tests.integration.host.rawhttp import RawResponse, bad_log_lines, build, send
from tests.pictures import png

from .conftest import HostUnderTest, Job, poll_until_done

EDITS = b"/api/images/edits"
BOUNDARY = b"b0undary"
MULTIPART = b"multipart/form-data; boundary=" + BOUNDARY
JSON = b"application/json"
SECRET = "S3cr3tSig0fTheCaller"  # a signature no refusal may echo
SAS = f"sv=2024-08-04&se=2030-01-01T00%3A00%3A00Z&sr=b&sp=r&sig={SECRET}"


PNG = png((64, 64))
B64 = base64.b64encode(PNG).decode()


# --- raw multipart ---------------------------------------------------------------------------

Part = tuple[list[bytes], bytes]  # (header lines, content)


def text(name: bytes, value: bytes) -> Part:
    return ([b'Content-Disposition: form-data; name="' + name + b'"'], value)


def upload(name: bytes, data: bytes, filename: bytes = b"in.png") -> Part:
    disposition = b'Content-Disposition: form-data; name="' + name + b'"; filename="'
    return ([disposition + filename + b'"', b"Content-Type: image/png"], data)


def multipart(parts: list[Part], *, boundary: bytes = BOUNDARY, close: bool = True) -> bytes:
    out = b""
    for headers, content in parts:
        out += b"--" + boundary + b"\r\n" + b"".join(h + b"\r\n" for h in headers)
        out += b"\r\n" + content + b"\r\n"
    return out + (b"--" + boundary + b"--\r\n" if close else b"")


GOOD_PARTS = [text(b"prompt", b"make it winter"), upload(b"image", PNG)]


def as_json(body: dict[str, Any]) -> tuple[bytes, bytes]:
    return JSON, json.dumps({"prompt": "make it winter", **body}).encode()


# --- the host, the checks --------------------------------------------------------------------


@pytest.fixture(scope="module")
def host(
    azurite: AzuriteEndpoints, emulator_process: EmulatorHandle, tmp_path_factory: Any
) -> Iterator[HostUnderTest]:
    """One host for the whole module (every request here is refused before any job starts)."""
    root: Path = tmp_path_factory.mktemp("edit-fuzz")
    env = app_env(azurite.connection_string, emulator_process.base_url, emulator_process.api_key)
    started = HostUnderTest(root / "host", env, root / "host.log")
    started.start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def container(azurite: AzuriteEndpoints) -> Iterator[Any]:
    with BlobServiceClient.from_connection_string(azurite.connection_string) as service:
        yield service.get_container_client("images")


def settled_log(host: HostUnderTest, deadline_s: float = 30.0) -> str:
    """The host's whole log once a marker request has reached it (tee writes a little later)."""
    marker = f"/api/edit-fuzz-done-{time.monotonic_ns()}"
    send(host.base_url, build(b"GET", marker.encode()))
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        log = host.log
        if marker in log:
            return log
        time.sleep(0.05)  # the polling interval of a loop with a deadline
    raise AssertionError("the marker request never reached the host's log")


@dataclass
class Answer:
    response: RawResponse
    job_id: str
    log: str  # what the host printed while answering

    @property
    def error(self) -> dict[str, Any]:
        assert self.response.content_type.startswith("application/json"), self.response.raw[:300]
        error: dict[str, Any] = json.loads(self.response.body)["error"]
        return error


def post_raw(
    host: HostUnderTest,
    content_type: bytes | None,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    target: bytes = EDITS,
) -> Answer:
    """POST the body as given, with a fresh Idempotency-Key; the answer and the log it caused."""
    key = f"edit-fuzz-{uuid.uuid4().hex}"
    sent = [(b"Idempotency-Key", key.encode()), *(headers or [])]
    if content_type is not None:
        sent.append((b"Content-Type", content_type))
    before = len(host.log)
    response = send(host.base_url, build(b"POST", target, sent, body), timeout=120)
    assert response is not None, f"no answer to {body[:200]!r}"
    return Answer(response, instance_id_for(key), settled_log(host)[before:])


def assert_nothing_started(host: HostUnderTest, container: Any, answer: Answer) -> None:
    status = httpx.get(f"{host.api_url}/images/{answer.job_id}", timeout=30)
    assert status.status_code == 404, f"a job was started: {status.status_code} {status.text}"
    if container.exists():
        left = [b.name for b in container.list_blobs() if answer.job_id in b.name]
        assert left == [], f"blobs left for a refused request: {left}"


def assert_refused(
    host: HostUnderTest, container: Any, answer: Answer, status: int, field: str | None
) -> dict[str, Any]:
    """A 4xx with the API's error body naming `field` (any field when None), no job, no blob,
    no bad log line."""
    r = answer.response
    assert r.status < 500, f"{r.status}: {r.body[:300]!r}"
    assert r.status == status, f"{r.status}: {r.body[:300]!r}"
    error = answer.error
    assert error["code"], error
    assert len(error["message"]) >= 10, error
    if field is None:
        assert error.get("field"), f"no field named: {error}"
    else:
        assert error.get("field") == field, error
    assert bad_log_lines(answer.log) == [], answer.log
    assert_nothing_started(host, container, answer)
    return error


# --- malformed multipart ---------------------------------------------------------------------

MULTIPART_CASES: dict[str, tuple[bytes, bytes, int, str]] = {
    "no boundary in the Content-Type": (
        b"multipart/form-data",
        multipart(GOOD_PARTS),
        400,
        "Content-Type",
    ),
    "a 5000-digit n": (
        MULTIPART,
        multipart([*GOOD_PARTS, text(b"n", b"9" * 5000)]),
        400,
        "n",
    ),
    "a text part without a name": (
        MULTIPART,
        multipart([([b"Content-Disposition: form-data"], b"make it winter"), GOOD_PARTS[1]]),
        400,
        "body",
    ),
    "a part without Content-Disposition": (
        MULTIPART,
        multipart([([b"Content-Type: text/plain"], b"make it winter"), GOOD_PARTS[1]]),
        400,
        "body",
    ),
    "a non-UTF-8 model": (
        MULTIPART,
        multipart([*GOOD_PARTS, text(b"model", b"gpt-image-\xff\xfe")]),
        400,
        "model",
    ),
    "a non-UTF-8 field name": (
        MULTIPART,
        multipart([text(b"pr\xffompt", b"make it winter"), GOOD_PARTS[1]]),
        400,
        "body",
    ),
    "a path-traversal filename on a non-image": (
        MULTIPART,
        multipart([GOOD_PARTS[0], upload(b"image", b"0123456789", b"../../x.png")]),
        400,
        "images[0]",
    ),
    "a path-traversal part name": (
        MULTIPART,
        multipart([GOOD_PARTS[0], upload(b"../../x.png", PNG)]),
        400,
        "../../x.png",
    ),
    "10 000 image parts": (
        MULTIPART,
        multipart([GOOD_PARTS[0], *[upload(b"image[]", b"0123456789")] * 10_000]),
        400,
        "body",
    ),
    "a text field where the image goes": (
        MULTIPART,
        multipart([GOOD_PARTS[0], text(b"image", PNG)]),
        400,
        "image",
    ),
    "an empty body": (MULTIPART, b"", 400, "body"),
}


@pytest.mark.parametrize("case", list(MULTIPART_CASES))
def test_malformed_multipart_is_a_4xx_naming_the_field(host, container, case):
    content_type, body, status, field = MULTIPART_CASES[case]
    assert_refused(host, container, post_raw(host, content_type, body), status, field)


# Bodies werkzeug cannot read end to end: it answers an empty form without a word (its parser
# is `silent`), so the app asks for the prompt the caller did send.
UNREADABLE = {
    "the closing delimiter missing, the image cut short": multipart(GOOD_PARTS, close=False)[:-200],
    "a part's headers cut off": b'--b0undary\r\nContent-Disposition: form-data; name="pr',
    "the boundary in the Content-Type but not in the body": multipart(
        GOOD_PARTS, boundary=b"another"
    ),
}


@pytest.mark.parametrize("case", list(UNREADABLE))
def test_an_unreadable_multipart_body_is_a_400_naming_the_body(host, container, case):
    assert_refused(host, container, post_raw(host, MULTIPART, UNREADABLE[case]), 400, "body")


def test_a_file_part_without_a_name_is_a_400_naming_a_field(host, container):
    nameless = ([b'Content-Disposition: form-data; filename="in.png"'], PNG)
    answer = post_raw(host, MULTIPART, multipart([GOOD_PARTS[0], nameless]))
    error = assert_refused(host, container, answer, 400, None)
    assert "None" not in error["message"]


def test_a_non_utf8_prompt_is_a_400_naming_it(host, container):
    body = multipart([text(b"prompt", b"make it \xff\xfe winter"), GOOD_PARTS[1]])
    assert_refused(host, container, post_raw(host, MULTIPART, body), 400, "prompt")


def test_a_huge_http_header_line_is_refused_by_the_host(host, container):
    """Over the host's 8190-byte line limit: its parser's 400 (plain text, as Kestrel's own
    refusal is not the API's JSON either), and nothing started."""
    answer = post_raw(
        host, MULTIPART, multipart(GOOD_PARTS), headers=[(b"X-Padding", b"a" * 100_000)]
    )
    assert answer.response.status == 400, answer.response.body[:300]
    assert bad_log_lines(answer.log) == []
    assert_nothing_started(host, container, answer)


def test_a_traversal_filename_on_a_real_image_is_stored_under_the_jobs_folder(host, container):
    """The one hostile-looking body that is a valid edit: the filename is never used as a name."""
    body = multipart([GOOD_PARTS[0], upload(b"image", PNG, b"../../../x.png")])
    answer = post_raw(host, MULTIPART, body)
    assert answer.response.status == 202, answer.response.body[:300]
    started = json.loads(answer.response.body)
    assert started["id"] == answer.job_id
    with httpx.Client(timeout=30) as client:
        job = Job("make it winter", {}, started["id"], f"{host.api_url}/images/{answer.job_id}")
        poll_until_done(client, [job], deadline_s=120)
    assert job.final is not None
    assert job.final.status_code == 200, job.final.text
    [used] = job.final.json()["inputs"]
    assert re.search(rf"/{answer.job_id}/inputs/[0-9a-f]+/0\.png$", used["blob"]), used
    names = [b.name for b in container.list_blobs()]
    assert not [n for n in names if ".." in n.split("/") or n.endswith("/x.png") or n == "x.png"]


# --- hostile JSON ------------------------------------------------------------------------------

# `{host}` and `{blob}`: the host's base URL and Azurite's blob endpoint, known at run time.
JSON_CASES: dict[str, tuple[tuple[bytes, bytes], str]] = {
    "arrays nested 100 000 deep": (
        (JSON, b'{"prompt": "x", "images": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        "body",
    ),
    "images of 10 000 entries": (as_json({"images": [{"b64_json": B64}] * 10_000}), "images"),
    "b64_json that is not base64": (
        as_json({"images": [{"b64_json": "!!not*base64!!"}]}),
        "images[0].b64_json",
    ),
    "b64_json of a 10-byte non-image": (
        as_json({"images": [{"b64_json": base64.b64encode(b"0123456789").decode()}]}),
        "images[0]",
    ),
    "a data: URL of a non-image media type": (
        as_json({"images": [{"b64_json": "data:text/html;base64," + B64}]}),
        "images[0].b64_json",
    ),
    "a data: URL of a bogus image type holding no image": (
        as_json({"images": [{"b64_json": "data:image/x-evil;base64,MDEyMzQ1Njc4OQ=="}]}),
        "images[0]",
    ),
    "a blob ref climbing out with ../": (
        as_json({"images": [{"blob": "../../etc/passwd"}]}),
        "images[0].blob",
    ),
    "a blob ref with ../ midway": (
        as_json({"images": [{"blob": "2026/01/01/a/../../../../x.png"}]}),
        "images[0].blob",
    ),
    "a blob ref that is an absolute URL": (
        as_json({"images": [{"blob": "{blob}/images/x.png"}]}),
        "images[0].blob",
    ),
    "a mask blob ref climbing out": (
        as_json({"images": [{"b64_json": B64}], "mask": {"blob": "../x.png"}}),
        "mask.blob",
    ),
    "a job ref with path and query characters": (
        as_json({"images": [{"job": "../../x?y=z#w", "index": 0}]}),
        "images[0].job",
    ),
    "a job ref with a NUL": (
        as_json({"images": [{"job": "a\u0000b", "index": 0}]}),
        "images[0].job",
    ),
    "a job ref percent-encoded": (
        as_json({"images": [{"job": "%2e%2e%2f", "index": 0}]}),
        "images[0].job",
    ),
    "a url ref to the host itself (no image)": (
        as_json({"images": [{"url": "{host}/api/openapi.json"}]}),
        "images[0].url",
    ),
    "a file:// url ref": (as_json({"images": [{"url": "file:///etc/passwd"}]}), "images[0].url"),
    "an ftp:// url ref": (as_json({"images": [{"url": "ftp://127.0.0.1/x.png"}]}), "images[0].url"),
}


@pytest.mark.parametrize("case", list(JSON_CASES))
def test_hostile_json_is_a_400_naming_the_field(host, container, azurite, case):
    (content_type, body), field = JSON_CASES[case]
    body = body.replace(b"{host}", host.base_url.encode())
    body = body.replace(b"{blob}", azurite.blob_url.encode())
    assert_refused(host, container, post_raw(host, content_type, body), 400, field)


BOMB_BYTES = 200 * 1024 * 1024  # inflates past the host's 100 MB limit


@pytest.mark.parametrize(
    ("inflated", "status"),
    [
        (BOMB_BYTES, 413),  # the host's limit, checked as it inflates
        (70 * 1024 * 1024, 400),  # under the host's, over the route's 64 MiB
    ],
    ids=["over the host's limit", "over the route's limit"],
)
def test_a_gzip_bomb_is_refused_naming_the_body(host, container, inflated, status):
    head = b'{"prompt": "'
    bomb = gzip.compress(head + b"a" * (inflated - len(head) - 2) + b'"}', compresslevel=9)
    assert len(bomb) < inflated // 500  # a bomb: a few hundred KB on the wire
    answer = post_raw(host, JSON, bomb, headers=[(b"Content-Encoding", b"gzip")])
    assert_refused(host, container, answer, status, "body")


# --- signatures and keys never come back ------------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assert_no_secret(answer: Answer, secret: str = SECRET) -> None:
    assert secret not in answer.response.raw.decode("latin-1"), answer.response.body[:400]
    assert secret not in answer.log, [line for line in answer.log.splitlines() if secret in line]


# URL refs refused for every reason the policy has, each carrying a SAS signature.
SIGNED_URL_REFS = {
    "off the allow-list": "https://images.example.com/x.png?{sas}",
    "a file:// URL": "file:///etc/passwd?{sas}",
    "credentials before the host": "https://user:{secret}@a.blob.core.windows.net/x.png",
    "whitespace in the path": "https://a.blob.core.windows.net/a b.png?{sas}",
    "a broken percent-escape": "https://a.blob.core.windows.net/a%zz.png?{sas}",
    "a fragment": "https://a.blob.core.windows.net/a.png?{sas}#frag",
    "an unsigned Azurite blob (403)": "{blob}/images/nope.png?{sas}",
    "the host itself (not an image)": "{host}/api/openapi.json?{sas}",
}


@pytest.mark.parametrize("case", list(SIGNED_URL_REFS))
@pytest.mark.parametrize("where", ["images[0]", "mask"])
def test_a_refused_signed_url_ref_never_echoes_its_signature(host, container, azurite, case, where):
    url = SIGNED_URL_REFS[case].format(
        sas=SAS, secret=SECRET, blob=azurite.blob_url, host=host.base_url
    )
    ref = {"url": url}
    body = (
        {"images": [ref]} if where == "images[0]" else {"images": [{"b64_json": B64}], "mask": ref}
    )
    answer = post_raw(host, *as_json(body))
    assert_refused(host, container, answer, 400, f"{where}.url")
    assert_no_secret(answer)


def test_a_url_ref_to_another_loopback_port_is_refused_without_connecting(host, container):
    """The devstack lets an edit's URL use plain http only from Azurite's and the emulator's
    exact origins: any other loopback port (the Functions host, a closed one) is a 400 naming
    the field, with the signature kept out of the answer."""
    url = f"http://127.0.0.1:{closed_port()}/x.png?{SAS}"
    answer = post_raw(host, *as_json({"images": [{"url": url}]}))
    assert_refused(host, container, answer, 400, "images[0].url")
    assert_no_secret(answer)


def test_an_allowed_origin_that_is_down_is_a_503_without_the_signature(start_host, container):
    """An origin the settings allow that does not answer is the image host being unavailable:
    a 503 with Retry-After naming the field, as the stager answers any passing failure, and
    still no job."""
    port = closed_port()
    host = start_host(EDIT_SOURCE_ALLOW_HTTP_ORIGINS=f"http://127.0.0.1:{port}")
    answer = post_raw(host, *as_json({"images": [{"url": f"http://127.0.0.1:{port}/x.png?{SAS}"}]}))
    assert answer.response.status == 503, answer.response.body[:300]
    assert answer.response.headers.get("retry-after"), answer.response.headers
    assert answer.error["field"] == "images[0].url"
    assert_no_secret(answer)
    assert bad_log_lines(answer.log) == []
    assert_nothing_started(host, container, answer)


SIGNED_NAME_REFS = {
    "images[0].blob": {"images": [{"blob": f"https://a.blob.core.windows.net/images/x.png?{SAS}"}]},
    "mask.blob": {"images": [{"b64_json": B64}], "mask": {"blob": f"x.png?{SAS}"}},
    "images[0].job": {"images": [{"job": f"x.png?sig={SECRET}", "index": 0}]},
}


@pytest.mark.parametrize("field", list(SIGNED_NAME_REFS))
def test_a_signed_blob_or_job_ref_never_echoes_its_signature(host, container, field):
    answer = post_raw(host, *as_json(SIGNED_NAME_REFS[field]))
    assert_refused(host, container, answer, 400, field)
    assert_no_secret(answer)


KEY = "K3yOfTheFunctionApp"
OVERLONG = {
    "an x-functions-key header": ([(b"x-functions-key", KEY.encode() + b"a" * 10_000)], EDITS),
    "an Authorization header": (
        [(b"Authorization", b"Bearer " + KEY.encode() + b"a" * 10_000)],
        EDITS,
    ),
    "a ?code= query": ([], EDITS + b"?code=" + KEY.encode() + b"a" * 10_000),
}


@pytest.mark.parametrize("case", list(OVERLONG))
def test_an_overlong_line_carrying_a_key_is_not_logged(host, container, case):
    headers, target = OVERLONG[case]
    answer = post_raw(host, MULTIPART, multipart(GOOD_PARTS), headers=headers, target=target)
    assert answer.response.status in (400, 414, 431), answer.response.body[:300]
    assert_nothing_started(host, container, answer)
    # The log, not the answer: aiohttp's own 400 quotes the start of the line back to the
    # sender who sent it (the devstack's parser; Azure's host is Kestrel), but the host's log
    # line names the error's type only.
    assert KEY not in answer.log, [line for line in answer.log.splitlines() if KEY in line]


# --- production's download policy ---------------------------------------------------------------


@pytest.fixture
def png_server() -> Iterator[tuple[int, list[str]]]:
    """A loopback server answering every GET with a valid PNG: a fetch of it would succeed."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1]), hits
    server.shutdown()
    server.server_close()


def test_loopback_url_refs_are_refused_before_connecting_under_production_policy(
    start_host: Callable[..., HostUnderTest], container, png_server
):
    """With no plain-http hosts (as in Azure), a url ref to loopback on any port — a server that
    would answer a valid PNG included — is a 400 naming it, and nothing connects there."""
    port, hits = png_server
    host = start_host(IMAGE_SOURCE_ALLOW_HTTP_HOSTS="")
    for url in (
        f"http://127.0.0.1:{port}/x.png?{SAS}",
        f"https://127.0.0.1:{port}/x.png?{SAS}",
        f"http://localhost:{port}/x.png?{SAS}",
        f"https://[::1]:{port}/x.png?{SAS}",
        f"http://127.0.0.1:{closed_port()}/x.png?{SAS}",
    ):
        answer = post_raw(host, *as_json({"images": [{"url": url}]}))
        assert_refused(host, container, answer, 400, "images[0].url")
        assert_no_secret(answer)
    assert hits == [], "a refused URL was fetched"
