"""Live previews, the pure parts: the setting, which jobs stream, what the orchestrator shows and
sends, the preview links and names, the download's file name.

What the blobs and routes do is in tests/integration/app/test_previews.py (Azurite, emulator)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import azure.functions as func
import pytest

from shared.blueprints import activities, status_api
from shared.blueprints.http_api import api_base, download_disposition, job_previews
from shared.blueprints.jobs import new_job_input
from shared.edit_requests import parse_edit_json, validate_edit
from shared.imaging.types import Deployment, ErrorCode, Family, Flavour, ImageApiError
from shared.links import LinkSigner, Signature, preview_link, status_link
from shared.models import JobInput, Progress, model_list, parse_body, validate_request
from shared.orchestration import contracts as c
from shared.settings import Settings, SettingsError, load_settings, reset_settings_cache
from shared.storage import naming
from shared.storage.previews import PreviewBudget, PreviewWriter
from shared.storage.receipts import StagedBlocks
from shared.storage.store import PreviewBlob
from tests.unit.app.fakes import discarded, failed, generated, persisted

BASE = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "AZURE_OPENAI_ENDPOINT": "http://e",
    "IMAGE_REQUESTS_QUEUE": "image-requests",
    "OPENAI_API_KEY": "k",
    "IMAGE_MODELS": json.dumps(
        {
            "g2": {"deployment": "g2", "family": "gpt-image-2", "flavour": "azure-deployment"},
            "g1v1": {"deployment": "g1", "family": "gpt-image", "flavour": "azure-v1"},
            "o1": {"deployment": "gpt-image-1", "family": "gpt-image", "flavour": "openai"},
            "d3": {"deployment": "d3", "family": "dall-e-3", "flavour": "azure-deployment"},
            "d2": {"deployment": "d2", "family": "dall-e-2", "flavour": "azure-dalle2-async"},
            "f2": {"deployment": "flux.2-pro", "family": "FLUX.2-pro", "flavour": "bfl-foundry"},
            "g1old": {
                "deployment": "g1",
                "family": "gpt-image",
                "flavour": "azure-deployment",
                "api_version": "2025-03-01-preview",
            },
        }
    ),
    "IMAGE_DEFAULT_MODEL": "g2",
}
CREATED = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
JOB = "3f2b9c4e8a1d4c7e9b0a5d6e7f8a9b0c"


# ---- IMAGE_PARTIAL_IMAGES ----------------------------------------------------------------------


def test_two_partial_images_are_streamed_unless_set_otherwise():
    assert load_settings(BASE).image_partial_images == 2
    assert load_settings({**BASE, "IMAGE_PARTIAL_IMAGES": "0"}).image_partial_images == 0
    assert load_settings({**BASE, "IMAGE_PARTIAL_IMAGES": "3"}).image_partial_images == 3


@pytest.mark.parametrize("value", ["4", "-1", "two"])
def test_a_partial_image_count_the_service_does_not_take_names_the_setting(value):
    with pytest.raises(SettingsError) as info:
        load_settings({**BASE, "IMAGE_PARTIAL_IMAGES": value})
    assert info.value.setting == "IMAGE_PARTIAL_IMAGES"


# ---- which jobs stream -------------------------------------------------------------------------


def generation(settings: Settings, **body: Any) -> JobInput:
    request = parse_body(json.dumps({"prompt": "a badger", **body}).encode())
    valid = validate_request(request, settings.image_models, settings.image_default_model)
    return new_job_input(JOB, request, valid, settings, CREATED)


@pytest.mark.parametrize(
    ("body", "streamed"),
    [
        ({"model": "g2"}, 2),  # Azure's deployment route
        ({"model": "g1v1"}, 2),  # Azure's v1 route
        ({"model": "o1"}, 2),  # OpenAI's API
        ({"model": "g2", "n": 2}, 0),  # the events name no image: one-image jobs only
        ({"model": "d3"}, 0),  # DALL-E 3 does not stream
        ({"model": "d2", "size": "256x256"}, 0),  # an operation, not a reply
        ({"model": "f2"}, 0),  # FLUX does not stream
        ({"model": "g1old"}, 0),  # the deployment route before 2025-04-01 has no `stream`
    ],
)
def test_a_one_image_job_on_a_model_that_streams_asks_for_the_setting(body, streamed):
    settings = load_settings(BASE)
    assert generation(settings, **body).partial_images == streamed


def test_models_offer_previews_exactly_where_jobs_stream():
    settings = load_settings(BASE)
    listed = model_list(settings.image_models, "g2", {}, settings.image_partial_images)
    offered = {m.name: m.previews for m in listed.models}

    assert offered == {
        "g2": True,
        "g1v1": True,
        "o1": True,
        "d3": False,
        "d2": False,
        "f2": False,
        "g1old": False,  # an api-version without `stream`: the job would not stream either
    }
    for name, previews in offered.items():
        job = generation(settings, model=name, **({"size": "256x256"} if name == "d2" else {}))
        assert (job.partial_images > 0) is previews


@pytest.mark.parametrize(
    ("flavour", "api_version", "streams"),
    [
        (Flavour.AZURE_DEPLOYMENT, "2025-04-01-preview", True),
        (Flavour.AZURE_DEPLOYMENT, "2025-06-01", True),
        (Flavour.AZURE_DEPLOYMENT, "2025-03-01-preview", False),
        (Flavour.AZURE_DEPLOYMENT, "2024-10-21", False),
        (Flavour.AZURE_DEPLOYMENT, None, False),
        (Flavour.AZURE_V1, None, True),
        (Flavour.OPENAI, None, True),
    ],
)
def test_whether_a_deployment_streams_is_one_rule(flavour, api_version, streams):
    from shared.imaging.types import deployment_streams

    deployment = Deployment(
        name="d",
        deployment="d",
        family=Family.GPT_IMAGE_1_5,
        flavour=flavour,
        endpoint="http://e",
        api_version=api_version,
    )
    assert deployment_streams(deployment) is streams


def test_with_the_setting_at_0_no_job_streams():
    settings = load_settings({**BASE, "IMAGE_PARTIAL_IMAGES": "0"})
    assert generation(settings, model="g2").partial_images == 0


def test_the_setting_is_what_a_streaming_job_asks_for():
    settings = load_settings({**BASE, "IMAGE_PARTIAL_IMAGES": "3"})
    assert generation(settings, model="g2").partial_images == 3


@pytest.mark.parametrize(("n", "streamed"), [(1, 2), (2, 0)])
def test_an_edit_streams_by_the_same_rule(n, streamed):
    settings = load_settings(BASE)
    body = {"prompt": "make it winter", "model": "g2", "n": n, "images": [{"job": JOB}]}
    parsed = parse_edit_json(json.dumps(body).encode())
    valid = validate_edit(parsed, settings.image_models, settings.image_default_model)
    job = new_job_input(JOB, parsed.request, valid, settings, CREATED)
    assert job.partial_images == streamed


def test_jobs_and_calls_from_before_previews_still_read():
    settings = load_settings(BASE)
    old = generation(settings, model="g2").model_dump(mode="json")
    del old["partial_images"]
    assert JobInput.model_validate(old).partial_images == 0
    call = {"job_id": JOB, "model": "g2", "created": CREATED.isoformat(), "params": {"prompt": "p"}}
    assert c.GenerateInput.model_validate(call).partial_images == 0
    with pytest.raises(ValueError, match="partial_images"):
        c.GenerateInput.model_validate({**call, "partial_images": 4})


# ---- what the orchestrator shows and sends -----------------------------------------------------


def streaming_job(make_job, **changes: Any) -> JobInput:
    job = make_job(Family.GPT_IMAGE, Flavour.AZURE_DEPLOYMENT)
    return job.model_copy(update={"partial_images": 2, **changes})


def test_a_streaming_job_sends_its_partial_images_and_shows_where_its_previews_are(
    replay, make_job
):
    job = streaming_job(make_job)

    run = replay(job, lambda name, payload: generated(payload))

    (call,) = run.calls
    assert call.input["partial_images"] == 2
    running = [s for s in run.statuses if s["stage"] == "generating"]
    assert running
    for status in run.statuses:  # from the input: the same in every replay, no clock read
        assert status["created"] == job.created
        assert status["partial_images"] == 2
        assert "previews" not in status  # only the status routes add them, on read
    history = json.dumps(run.history)
    assert "previews/" not in history  # no preview blob name, no link, no bytes
    assert "sig=" not in history


def test_a_job_that_does_not_stream_shows_no_preview_fields(replay, make_job):
    run = replay(make_job(), lambda name, payload: generated(payload))

    assert run.calls[0].input["partial_images"] == 0
    for status in run.statuses:
        assert "created" not in status
        assert "partial_images" not in status


def test_a_streaming_jobs_persist_carries_its_partial_images_and_no_other_does(replay, make_job):
    def respond(name, payload):
        if name == "generate_images":
            return generated(payload, copy_fails=[0])
        return persisted(payload)

    streamed = replay(streaming_job(make_job), respond)
    plain = replay(make_job(), respond)

    [persist] = [call.input for call in streamed.calls if call.name == "persist_image"]
    assert persist["partial_images"] == 2
    [persist] = [call.input for call in plain.calls if call.name == "persist_image"]
    assert "partial_images" not in persist  # absent, as in every history from before previews
    assert c.PersistInput.model_validate(persist).partial_images is None


def _previews_left(payload):
    answer = generated(payload)
    answer["value"]["previews_left"] = True
    return answer


def _discards(run) -> list[dict[str, Any]]:
    return [call.input for call in run.calls if call.name == "discard_job_blobs"]


def test_previews_a_call_could_not_delete_are_deleted_before_the_job_ends(replay, make_job):
    def respond(name, payload):
        if name == "generate_images":
            return _previews_left(payload)
        return discarded(payload, deleted=1)

    job = streaming_job(make_job)
    run = replay(job, respond)

    assert _discards(run) == [{"job_id": job.id, "created": job.created, "previews_only": True}]
    assert run.output["status"] == "succeeded"  # the images are kept
    assert len(run.output["images"]) == 1


def test_a_failed_streaming_job_deletes_its_previews_and_a_clean_one_calls_nothing(
    replay, make_job
):
    def fail(name, payload):
        if name == "generate_images":
            return failed("content_filter", "refused")
        return discarded(payload, deleted=0)

    failed_run = replay(streaming_job(make_job), fail)
    clean = replay(streaming_job(make_job), lambda name, payload: generated(payload))
    plain_failed = replay(make_job(), fail)

    assert [d.get("previews_only") for d in _discards(failed_run)] == [True]
    assert failed_run.output["status"] == "failed"
    assert _discards(clean) == []  # the common case costs no call
    assert _discards(plain_failed) == []  # a job that does not stream has no previews


def test_previews_of_images_persist_stored_are_deleted_before_the_job_ends(replay, make_job):
    def respond(name, payload):
        if name == "generate_images":
            return generated(payload, copy_fails=[0])
        if name == "persist_image":
            return persisted(payload)
        return discarded(payload, deleted=0)

    run = replay(streaming_job(make_job), respond)

    assert [d.get("previews_only") for d in _discards(run)] == [True]
    assert run.output["status"] == "succeeded"


def test_a_dalle3_fan_out_never_streams(replay, make_job):
    job = make_job(n=3)
    run = replay(job, lambda name, payload: generated(payload))

    assert [call.input["partial_images"] for call in run.calls] == [0, 0, 0]


# ---- links and names ---------------------------------------------------------------------------


def test_a_preview_link_carries_the_status_links_signature_and_its_frame():
    signer = LinkSigner(secret=b"a-status-link-secret-of-32-chars!", previous=None, ttl=HOUR)
    sig = signer.sign(JOB, CREATED)

    link = preview_link("https://app/api", JOB, 0, 1, sig, version="a1b2c3")
    status = status_link("https://app/api", JOB, sig)

    parts = urlsplit(link)
    assert link.startswith(f"https://app/api/status/{JOB}/previews/0?frame=1&v=a1b2c3&")
    query = parse_qs(parts.query)
    assert query == {
        "frame": ["1"],
        "v": ["a1b2c3"],
        "expires": [str(sig.expires)],
        "sig": [sig.sig],
    }
    assert parse_qs(urlsplit(status).query) == {"expires": [str(sig.expires)], "sig": [sig.sig]}
    # frame and version are not part of what is signed: a newer frame's link opens the same job
    assert isinstance(signer.check(JOB, query["expires"][0], query["sig"][0], CREATED), Signature)
    assert preview_link("https://app/api", JOB, 0, 2, sig, version="a1b2c3") != link
    # a retried call's frame 1 is another blob: another link, though its frame is the same
    assert preview_link("https://app/api", JOB, 0, 1, sig, version="d4e5f6") != link


def test_preview_blobs_live_in_the_jobs_folder_apart_from_its_images():
    name = naming.preview_blob_name(JOB, CREATED, 0, "png")
    assert name == f"2026/12/01/{JOB}/previews/0.png"
    assert name.startswith(naming.previews_prefix(JOB, CREATED))
    assert naming.previews_prefix(JOB, CREATED).startswith(naming.job_folder(JOB, CREATED) + "/")
    assert naming.blob_name(JOB, CREATED, 0, "png") != name
    with pytest.raises(ValueError, match="index"):
        naming.preview_blob_name(JOB, CREATED, -1, "png")
    with pytest.raises(ValueError, match="extension"):
        naming.preview_blob_name(JOB, CREATED, 0, "../x")
    with pytest.raises(ValueError, match="job id"):
        naming.previews_prefix("../other", CREATED)


def test_a_download_is_named_after_the_job_and_the_image():
    blob = f"2026/12/01/{JOB}/1.jpg"
    assert download_disposition(JOB, 1, blob) == 'attachment; filename="image-3f2b9c4e-1.jpg"'


def request(url: str, **route: str) -> func.HttpRequest:
    return func.HttpRequest("GET", url, body=b"", route_params=route)


def test_the_api_base_of_a_preview_route_is_the_apps_prefix():
    req = request(f"http://h:7071/api/status/{JOB}/previews/0?frame=1", id=JOB, index="0")
    assert api_base(req) == "http://h:7071/api"


@pytest.mark.parametrize(
    "progress",
    [
        None,
        Progress(stage="generating", images_total=1),  # not a streaming job
        Progress(stage="generating", images_total=1, partial_images=2),  # no folder date
        Progress(stage="queued", images_total=1, partial_images=2, created=CREATED.isoformat()),
        Progress(
            stage="waiting_to_retry", images_total=1, partial_images=2, created=CREATED.isoformat()
        ),
        Progress(stage="notifying", images_total=1, partial_images=2, created=CREATED.isoformat()),
    ],
)
async def test_previews_are_looked_for_only_while_a_streaming_job_generates_or_stores(
    progress, no_storage, caplog
):
    # No store is configured in this process: a lookup would fail and be logged (and the
    # answer be None all the same), so no such log line means no lookup was tried.
    req = request(f"http://h/api/images/{JOB}", id=JOB)
    sig = Signature(1_900_000_000, "s" * 43)
    assert await job_previews(req, JOB, progress, sig) is None
    assert "previews not listed" not in caplog.text


@pytest.fixture
def no_storage(monkeypatch):
    """Settings without any storage: whatever needs the store fails (a SettingsError)."""
    for name in ("AzureWebJobsStorage", "IMAGES_STORAGE_CONNECTION", "IMAGES_STORAGE_ACCOUNT_URL"):
        monkeypatch.delenv(name, raising=False)
    reset_settings_cache()
    yield
    reset_settings_cache()


async def test_a_lookup_of_previews_that_fails_answers_none_not_an_error(no_storage, caplog):
    req = request(f"http://h/api/images/{JOB}", id=JOB)
    progress = Progress(
        stage="generating", images_total=1, partial_images=2, created=CREATED.isoformat()
    )
    sig = Signature(1_900_000_000, "s" * 43)
    assert await job_previews(req, JOB, progress, sig) is None
    assert "previews not listed" in caplog.text


# ---- the 202's previews and the preview route follow one rule ----------------------------------


class ListingStore:
    """A store whose previews folder holds `found`; records listings and SAS requests."""

    def __init__(self, found: list[PreviewBlob]) -> None:
        self.found = found
        self.listed: list[str] = []
        self.signed: list[tuple[str, dict[str, Any]]] = []

    async def list_previews(self, prefix: str) -> list[PreviewBlob]:
        self.listed.append(prefix)
        return list(self.found)

    async def sas_url(self, blob: str, ttl: timedelta, **options: Any) -> str:
        self.signed.append((blob, options))
        return f"https://blob/{blob}?sas"


PREVIEWS = [
    PreviewBlob(index=0, frame=1, blob=f"2026/12/01/{JOB}/previews/0.png", version="v0"),
    PreviewBlob(index=1, frame=0, blob=f"2026/12/01/{JOB}/previews/1.png", version="v1"),
]


@pytest.fixture
def listing(monkeypatch) -> ListingStore:
    store = ListingStore(PREVIEWS)
    monkeypatch.setattr("shared.blueprints.deps.runtime", lambda: SimpleNamespace(store=store))
    return store


def running(stage: str, images_total: int = 1) -> Any:
    progress = Progress(
        stage=stage,  # type: ignore[arg-type]
        images_total=images_total,
        partial_images=2,
        created=CREATED.isoformat(),
    )

    class Client:
        async def get_status(self, instance_id: str) -> Any:
            return SimpleNamespace(
                runtime_status=SimpleNamespace(value="Running"),
                custom_status=progress.model_dump(mode="json", exclude_none=True),
                output=None,
            )

    return Client(), progress


async def test_the_status_offers_only_the_previews_the_route_opens(listing):
    client, progress = running("generating")
    req = request(f"http://h/api/images/{JOB}", id=JOB)
    sig = Signature(1_900_000_000, "s" * 43)

    views = await job_previews(req, JOB, progress, sig)
    opened = await status_api._preview_redirect(client, JOB, "0")
    past = await status_api._preview_redirect(client, JOB, "1")  # past the job's one image

    assert [(v.index, v.frame) for v in views or []] == [(0, 1)]
    assert views is not None
    assert "frame=1&v=v0&" in views[0].url
    assert opened.status_code == 302
    assert opened.headers["Location"] == f"https://blob/{PREVIEWS[0].blob}?sas"
    assert past.status_code == 404


async def test_a_preview_sas_tells_blob_storage_to_answer_no_store(listing):
    client, _ = running("storing")

    opened = await status_api._preview_redirect(client, JOB, "0")

    assert opened.status_code == 302
    assert listing.signed == [(PREVIEWS[0].blob, {"cache_control": "no-store"})]


@pytest.mark.parametrize("stage", ["waiting_to_retry", "queued", "notifying", "cleaning_up"])
async def test_the_preview_route_answers_404_in_a_stage_without_previews(listing, stage):
    client, progress = running(stage)
    req = request(f"http://h/api/images/{JOB}", id=JOB)

    answer = await status_api._preview_redirect(client, JOB, "0")

    assert answer.status_code == 404
    assert json.loads(answer.get_body())["error"]["code"] == "not_found"
    assert await job_previews(req, JOB, progress, Signature(1_900_000_000, "s" * 43)) is None
    assert listing.listed == []  # not even looked for
    assert listing.signed == []


# ---- one preview writer per image for the whole call, one time budget -------------------------


class SlowOrBrokenStore:
    """What a preview writer needs of the store before its first frame: the container."""

    def __init__(self, *, fail: bool = False, hang: bool = False) -> None:
        self.fail, self.hang = fail, hang
        self.ensured = 0
        self.deleted: list[str] = []

    async def ensure_container(self) -> None:
        self.ensured += 1
        if self.hang:  # a store that never answers: only a timeout gets the writer out
            await asyncio.Event().wait()
        if self.fail:
            raise ImageApiError(ErrorCode.UNAVAILABLE, "Blob Storage is unavailable.")

    async def delete_prefix(self, prefix: str, *, limit: int) -> tuple[int, bool]:
        self.deleted.append(prefix)
        return 1, False

    async def delete_quietly(self, names: list[str]) -> int:
        self.deleted.extend(names)
        return len(names)


def use_store(monkeypatch, store: Any) -> None:
    rt = SimpleNamespace(store=store, policy=SimpleNamespace(max_bytes=1 << 20))
    monkeypatch.setattr(activities, "_runtime", lambda: rt)


def generate_input(partial_images: int = 2) -> c.GenerateInput:
    return c.GenerateInput(
        job_id=JOB,
        model="g2",
        created=CREATED.isoformat(),
        params={"prompt": "a badger"},
        partial_images=partial_images,
    )


async def test_a_preview_writer_that_failed_is_not_opened_again_for_the_next_frame(
    monkeypatch, caplog
):
    store = SlowOrBrokenStore(fail=True)
    use_store(monkeypatch, store)
    previews = activities._previews(generate_input(), CREATED)

    first = await previews.open(0)
    again = await previews.open(0)  # the next frame of the same image
    await again.write(b"\x89PNG more bytes")
    await again.finish(1)

    assert again is first
    assert first.broken
    assert store.ensured == 1  # one failure, never retried within the call
    assert first.frames == 0
    assert caplog.text.count(f"preview of job {JOB} image 0 dropped") == 1
    other = await previews.open(1)
    assert other is not first
    assert other.budget is first.budget  # one budget for the whole call


async def test_previews_stop_once_they_have_cost_the_calls_storage_budget(caplog):
    caplog.set_level(logging.WARNING)
    budget = PreviewBudget(0.2)
    slow = SlowOrBrokenStore(hang=True)

    started = asyncio.get_running_loop().time()
    stalled = await PreviewWriter.open(slow, str, 1 << 20, label="a", budget=budget)
    waited = asyncio.get_running_loop().time() - started
    fast = SlowOrBrokenStore()
    after = await PreviewWriter.open(fast, str, 1 << 20, label="b", budget=budget)

    assert stalled.broken
    assert waited < 2.0  # cut at what was left of the budget, not the step's own timeout
    assert budget.spent
    assert after.broken
    assert fast.ensured == 0  # the budget is spent: storage is not even asked
    assert "preview of b dropped: the call's previews have used their storage time" in caplog.text


# ---- persist_image deletes previews only for a job that streams ---------------------------------


STAGED = StagedBlocks(
    index=0,
    blob=f"2026/12/01/{JOB}/0.png",
    content_type="image/png",
    bytes=10,
    writer="w",
    block_ids=["b"],
)


@pytest.mark.parametrize(("partial_images", "deletes"), [(None, False), (2, True)])
async def test_persist_deletes_the_previews_of_a_streaming_job_only(
    monkeypatch, partial_images, deletes
):
    store = SlowOrBrokenStore()
    use_store(monkeypatch, store)
    job = c.PersistInput(
        job_id=JOB,
        model="g2",
        created=CREATED.isoformat(),
        prompt="p",
        index=0,
        first_index=0,
        partial_images=partial_images,
    )

    await activities._drop_preview_of(job, STAGED)

    assert store.deleted == ([naming.previews_prefix(JOB, CREATED)] if deletes else [])
