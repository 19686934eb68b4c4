"""The HTTP API over real HTTP: function_app.py served by the local Functions host, unchanged, with
the session's emulator and Azurite behind it."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jsonschema
import pytest

from devstack.azurite import AzuriteEndpoints
from devstack.host.app_secrets import SECRET_FILE
from devstack.launch import REPO_ROOT, LocalHost, app_env
from shared.links import LinkSigner, Signature, status_link
from tests.conftest import EmulatorHandle

BADGER = "a badger wearing a tuxedo"


@dataclass
class Api:
    url: str  # http://127.0.0.1:PORT/api
    emulator: EmulatorHandle
    data_dir: Path

    def signer(self) -> LinkSigner:
        """Signs as the host does: with the secret the devstack made up for its data dir."""
        secret = (self.data_dir / SECRET_FILE).read_text(encoding="ascii").encode()
        return LinkSigner(secret=secret, previous=None, ttl=timedelta(hours=1))

    @property
    def base_url(self) -> str:
        """The host's origin, where the Durable HTTP API is mounted."""
        return self.url.removesuffix("/api")

    def stats(self) -> dict:
        return self.emulator.stats()

    def configure(self, **patch: object) -> None:
        self.emulator.configure(**patch)


@pytest.fixture(scope="module")
def api_host(
    azurite: AzuriteEndpoints,
    emulator_process: EmulatorHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Api]:
    env = app_env(
        azurite.connection_string,
        emulator_process.base_url,
        emulator_process.api_key,
        unset=("IMAGE_MODELS", "IMAGE_DEFAULT_MODEL", "IMAGES_STORAGE_CONNECTION"),
        FUNCTIONS_WORKER_RUNTIME="python",
        IMAGES_CONTAINER=f"api-{uuid.uuid4().hex[:10]}",
        IMAGE_JOB_DEADLINE_SECONDS="120",
    )
    host = LocalHost(REPO_ROOT, tmp_path_factory.mktemp("app-host"), env, name="app-host")
    host.start(timeout=90)
    try:
        yield Api(host.api_url, emulator_process, host.data_dir)
    finally:
        host.stop()


@pytest.fixture
def api(api_host: Api, emulator: EmulatorHandle) -> Api:
    """The host, with the emulator reset before and after the test."""
    return api_host


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30, follow_redirects=False) as c:
        yield c


def finish(client: httpx.Client, url: str, timeout: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(url)
        if r.status_code != 202:
            return r
        assert r.headers["Location"] == url
        assert int(r.headers["Retry-After"]) >= 1
        time.sleep(0.1)
    raise AssertionError(f"{url} still running after {timeout}s")


def test_accepted_job_reports_progress_then_a_result_with_fresh_sas_urls(api, client):
    api.configure(latency_seconds=1.5)
    r = client.post(f"{api.url}/images", json={"prompt": BADGER, "model": "gpt-image-1", "n": 2})

    assert r.status_code == 202, r.text
    body = r.json()
    link = r.headers["Location"]  # the signed link: no key needed to follow it
    assert body["statusQueryGetUri"] == link
    assert link.startswith(f"{api.url}/status/{body['id']}?expires=")
    assert r.headers["Retry-After"]
    assert "webhooks" not in r.text
    assert "code=" not in r.text
    running = client.get(link)
    assert running.status_code == 202
    assert running.json()["progress"]["images_total"] == 2
    assert running.headers["Location"] == link  # polling does not extend the link's life
    assert running.headers["Referrer-Policy"] == "no-referrer"
    status_url = f"{api.url}/images/{body['id']}"  # the keyed route answers the same
    keyed = client.get(status_url)
    assert keyed.status_code in (200, 202)

    done = finish(client, link)

    assert done.status_code == 200, done.text
    result = done.json()
    assert result["status"] == "succeeded"
    assert result["model"] == "gpt-image-1"
    assert result["prompt"] == BADGER
    assert len(result["images"]) == 2
    for image in result["images"]:
        downloaded = httpx.get(image["url"], timeout=30)
        assert downloaded.status_code == 200
        assert downloaded.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(downloaded.content) == image["bytes"]
        assert "sig=" in image["url"]  # a read-only SAS, made on read

    redirect = client.get(f"{status_url}/1")
    assert redirect.status_code == 302
    assert (
        httpx.get(redirect.headers["Location"], timeout=30).content
        == httpx.get(result["images"][1]["url"], timeout=30).content
    )
    missing = client.get(f"{status_url}/2")
    assert missing.status_code == 404
    assert missing.json()["error"]["field"] == "index"
    superscript = client.get(f"{status_url}/²")  # a digit to str.isdigit, not to int()
    assert superscript.status_code == 404
    assert superscript.json()["error"]["field"] == "index"


def test_idempotency_key_returns_the_same_job_and_generates_nothing_new(api, client):
    key = f"key-{uuid.uuid4()}"
    first = client.post(
        f"{api.url}/images", json={"prompt": BADGER}, headers={"Idempotency-Key": key}
    )
    assert first.status_code == 202, first.text
    job_id = first.json()["id"]
    running_repeat = client.post(
        f"{api.url}/images", json={"prompt": BADGER}, headers={"Idempotency-Key": key}
    )
    assert running_repeat.json()["id"] == job_id
    done = finish(client, first.headers["Location"])
    assert done.status_code == 200

    again = client.post(
        f"{api.url}/images", json={"prompt": BADGER}, headers={"Idempotency-Key": key}
    )

    assert again.status_code == 200  # finished: the job's result, as its status route answers
    assert again.json()["id"] == job_id
    # ...and it is the answer the API's own OpenAPI document promises for that case.
    document = client.get(f"{api.url}/openapi.json").json()
    promised = document["paths"]["/api/images"]["post"]["responses"]["200"]["schema"]
    jsonschema.validate(again.json(), {**promised, "definitions": document["definitions"]})
    assert [i["blob"] for i in again.json()["images"]] == [i["blob"] for i in done.json()["images"]]
    assert api.stats()["billed"]["images"] == 1

    other = client.post(
        f"{api.url}/images", json={"prompt": "a fox"}, headers={"Idempotency-Key": key}
    )
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"


def test_a_failed_job_answers_422_with_its_code(api, client):
    api.configure(content_filter_words=["badger"])
    r = client.post(f"{api.url}/images", json={"prompt": BADGER})
    assert r.status_code == 202

    done = finish(client, r.headers["Location"])

    assert done.status_code == 422
    assert done.json()["error"]["code"] == "content_filter"
    assert client.get(f"{api.url}/images/{r.json()['id']}/0").status_code == 422


@pytest.mark.parametrize(
    ("content", "status", "field"),
    [
        (b'{"prompt": "x", "size": "256x256"}', 400, "size"),
        (b'{"prompt": "x", "extra": 1}', 400, "extra"),
        (b"{not json", 400, None),
        (b'{"prompt": "' + b"a" * 300_000 + b'"}', 400, None),
    ],
)
def test_bad_requests_are_refused_before_anything_starts(api, client, content, status, field):
    before = datetime.now(UTC).isoformat()
    r = client.post(
        f"{api.url}/images", content=content, headers={"Content-Type": "application/json"}
    )

    assert r.status_code == status
    assert r.json()["error"].get("field") == field
    assert api.stats()["billed"]["generations"] == 0
    # No job was started either (it would bill only later): the host lists no new instance.
    listed = client.get(
        f"{api.base_url}/runtime/webhooks/durabletask/instances/",
        params={"createdTimeFrom": before},
    )
    assert listed.status_code == 200, listed.text
    assert listed.json() == []


@pytest.mark.parametrize("job_id", ["0123456789abcdef", "no..such", "x" * 150])
def test_unknown_jobs_are_404(api, client, job_id):
    r = client.get(f"{api.url}/images/{job_id}")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_dalle2_job_polls_on_durable_timers_until_its_images_are_stored(api, client):
    api.configure(latency_seconds=2.0)
    r = client.post(f"{api.url}/images", json={"prompt": BADGER, "model": "dall-e-2", "n": 2})
    assert r.status_code == 202, r.text

    done = finish(client, r.headers["Location"])

    assert done.status_code == 200, done.text
    images = done.json()["images"]
    assert [i["blob"].rsplit("/", 1)[-1] for i in images] == ["0.png", "1.png"]
    for image in images:
        assert httpx.get(image["url"], timeout=30).content[:8] == b"\x89PNG\r\n\x1a\n"
    assert api.stats()["billed"]["images"] == 2


def test_a_request_without_a_model_runs_on_gpt_image_2(api, client):
    r = client.post(f"{api.url}/images", json={"prompt": BADGER, "size": "2048x1152"})
    assert r.status_code == 202, r.text

    done = finish(client, r.headers["Location"])

    assert done.status_code == 200, done.text
    assert done.json()["model"] == "gpt-image-2"
    (image,) = done.json()["images"]
    assert (image["width"], image["height"]) == (2048, 1152)


def test_models_lists_the_configured_models_with_their_options_and_lifecycle(api, client):
    r = client.get(f"{api.url}/models")

    assert r.status_code == 200, r.text
    listing = r.json()
    assert listing["default_model"] == "gpt-image-2"
    models = {m["name"]: m for m in listing["models"]}
    assert list(models) == [
        "gpt-image-2",
        "gpt-image-1.5",
        "gpt-image-1-mini",
        "gpt-image-1",
        "dall-e-2",
        "dall-e-3",
    ]
    two = models["gpt-image-2"]
    assert two["default"] is True
    assert two["sizes"] == ["1024x1024", "1024x1536", "1536x1024", "auto"]
    assert "multiples of 16" in two["size_rule"]
    assert two["output_format"] == ["png", "jpeg"]  # Azure: no webp
    assert "moderation" not in two  # Azure: no moderation parameter
    assert two["output_compression"] == {"min": 0, "max": 100, "formats": ["jpeg"]}
    assert (two["n_max"], two["prompt_max_chars"]) == (10, 32000)
    assert (two["edits"], two["max_input_images"], two["mask"]) == (True, 16, True)
    assert two["input_formats"] == ["png", "jpeg"]  # Azure: "png or jpg"
    assert two["lifecycle"]["status"] == "GA"
    assert two["lifecycle"]["retirement_date"] == "2027-04-21"
    assert "size_rule" not in models["gpt-image-1.5"]
    d3 = models["dall-e-3"]
    assert d3["style"] == ["vivid", "natural"]
    assert (d3["edits"], d3["max_input_images"]) == (False, 0)
    assert "input_formats" not in d3
    assert "output_compression" not in d3
    assert d3["lifecycle"] == {
        "platform": "azure",
        "status": "retired",
        "retirement_date": "2026-03-04",
        "replacement": "gpt-image-1.5",
        "source": "A4, A7",
        "note": d3["lifecycle"]["note"],
    }
    # ...and it is the answer the API's own OpenAPI document promises.
    document = client.get(f"{api.url}/openapi.json").json()
    promised = document["paths"]["/api/models"]["get"]["responses"]["200"]["schema"]
    jsonschema.validate(listing, {**promised, "definitions": document["definitions"]})


def test_a_job_on_a_retired_model_fails_saying_so_and_naming_the_replacement(api, client):
    api.configure(retired_models=["dall-e-3"])
    r = client.post(f"{api.url}/images", json={"prompt": BADGER, "model": "dall-e-3"})
    assert r.status_code == 202, r.text

    done = finish(client, r.headers["Location"])

    assert done.status_code == 422, done.text
    error = done.json()["error"]
    assert error["code"] == "deployment_not_found"
    assert "dall-e-3 was retired on Azure on 2026-03-04" in error["message"]
    assert "use gpt-image-2 instead" in error["message"]
    assert api.stats()["billed"]["images"] == 0


# -- signed status links -------------------------------------------------------------------------


def _refused(r: httpx.Response, code: str, *hidden: str) -> None:
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == code
    assert r.headers["Cache-Control"] == "no-store"
    for text in hidden:
        assert text not in r.text


def test_a_signed_link_opens_its_job_and_its_images_and_nothing_else(api, client):
    first = client.post(f"{api.url}/images", json={"prompt": BADGER, "n": 2})
    other = client.post(f"{api.url}/images", json={"prompt": "a heron in a hat"})
    assert first.status_code == other.status_code == 202
    job, link = first.json()["id"], first.headers["Location"]
    other_link = other.headers["Location"]
    done = finish(client, link)
    assert done.status_code == 200, done.text
    finish(client, other_link)

    query = link.partition("?")[2]
    image = client.get(f"{api.url}/status/{job}/images/1?{query}")
    assert image.status_code == 302
    assert image.headers["Referrer-Policy"] == "no-referrer"
    assert httpx.get(image.headers["Location"], timeout=30).content[:4] == b"\x89PNG"

    other_job = other.json()["id"]
    cross = client.get(f"{api.url}/status/{other_job}?{query}")  # job's link, other job's id
    _refused(cross, "link_invalid", other_job, "heron")
    _refused(client.get(f"{api.url}/status/{other_job}/images/0?{query}"), "link_invalid")
    tampered = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
    _refused(client.get(tampered), "link_invalid", BADGER)
    _refused(client.get(f"{api.url}/status/{job}"), "link_missing", BADGER)
    expires = int(query.split("expires=")[1].split("&")[0])
    later = link.replace(f"expires={expires}", f"expires={expires + 3600}")
    _refused(client.get(later), "link_invalid", BADGER)


def test_an_expired_link_is_refused_and_the_keyed_route_gives_a_fresh_one(api, client):
    r = client.post(f"{api.url}/images", json={"prompt": BADGER})
    job = r.json()["id"]
    finish(client, r.headers["Location"])
    signer = api.signer()
    expired = status_link(api.url, job, signer.sign(job, datetime.now(UTC) - timedelta(hours=2)))

    _refused(client.get(expired), "link_expired", BADGER)
    keyed = client.get(f"{api.url}/images/{job}")
    assert keyed.status_code == 200


def test_a_valid_link_of_a_job_that_is_gone_is_a_404(api, client):
    job = uuid.uuid4().hex
    link = status_link(api.url, job, api.signer().sign(job, datetime.now(UTC)))

    gone = client.get(link)

    assert gone.status_code == 404
    assert gone.json()["error"]["field"] == "id"


def test_a_signature_is_checked_before_the_job_id(api, client):
    forged = Signature(expires=4_000_000_000, sig="A" * 43)
    for job in ("x" * 500, "a.b", uuid.uuid4().hex):
        _refused(client.get(status_link(api.url, job, forged)), "link_invalid")
