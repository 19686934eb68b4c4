"""Activities against the emulator and Azurite: what ends up in Blob Storage, and what does not
end up in history."""

from __future__ import annotations

import base64
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from devstack.emulator.images import pad, render
from shared.blueprints import activities
from shared.imaging.types import GenerationParams
from shared.models import JobInput
from shared.settings import get_settings
from shared.storage.store import ImageStore
from tests.unit.app.engine import make_job

CREATED = datetime.now(UTC).isoformat()
PROMPT = "a badger wearing a tuxedo"


def gen_payload(model: str, job_id: str, **params: Any) -> dict[str, Any]:
    # As the orchestrator sends it: the model's name only, the activity resolves the deployment.
    return {
        "job_id": job_id,
        "model": model,
        "created": CREATED,
        "params": GenerationParams(prompt=PROMPT, **params).model_dump(mode="json"),
        "first_index": 0,
    }


def job_for(model: str, *, n: int, job_id: str, **kwargs: Any) -> JobInput:
    deployment = get_settings().image_models[model]
    job = make_job(deployment.family, deployment.flavour, n=n, job_id=job_id, **kwargs)
    return job.model_copy(update={"deployment": deployment, "model": model, "created": CREATED})


def image_of(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.mark.parametrize(
    ("model", "n", "fmt"),
    [("gpt-image-1", 2, "jpeg"), ("gpt-image-1-mini-v1", 2, "jpeg"), ("gpt-image-1", 3, "png")],
)
async def test_base64_models_are_stored_by_the_generating_activity(app_env, model, n, fmt):
    result = await activities.generate_images(
        gen_payload(model, "imgjob", n=n, size="1536x1024", output_format=fmt)
    )

    assert result["outcome"] == "ok", result
    assert result["value"]["sources"] == []
    assert len(result["value"]["images"]) == n
    ext, content_type = {"jpeg": ("jpg", "image/jpeg"), "png": ("png", "image/png")}[fmt]
    # Only names and facts go back to history, never the image data.
    assert "b64_json" not in json.dumps(result)
    assert len(json.dumps(result)) < 2000
    for index, record in enumerate(result["value"]["images"]):
        assert record["blob"].endswith(f"/imgjob/{index}.{ext}")
        blob = await app_env.blob(record["blob"])
        assert blob.content_type == content_type
        assert record["content_type"] == content_type
        assert record["bytes"] == len(blob.data)
        assert blob.data == render(PROMPT, 1536, 1024, index, fmt)  # the service's image
        assert image_of(blob.data).size == (1536, 1024) == (record["width"], record["height"])
        assert blob.metadata["model"] == model
        assert blob.metadata["job_id"] == "imgjob"
        assert blob.metadata["prompt"] == PROMPT


@pytest.mark.parametrize("model", ["dall-e-3", "dall-e-3-openai"])
async def test_url_models_are_copied_byte_for_byte_by_the_generating_activity(app_env, model):
    result = await activities.generate_images(gen_payload(model, "urljob", size="1792x1024"))

    assert result["outcome"] == "ok", result
    assert result["value"]["sources"] == []  # nothing left for persist_image: no URL in history
    (record,) = result["value"]["images"]
    blob = await app_env.blob(record["blob"])
    assert blob.data == render(PROMPT, 1792, 1024, 0, "png")
    assert blob.content_type == "image/png"
    assert (record["width"], record["height"]) == image_of(blob.data).size == (1792, 1024)
    assert blob.metadata["model"] == model
    assert blob.metadata["prompt"] == PROMPT
    if record.get("revised_prompt"):
        assert blob.metadata["revised_prompt"] == record["revised_prompt"]


def persist_payload(job_id: str, index: int = 0, **where: Any) -> dict[str, Any]:
    """As the orchestrator sends it: where the image is (`first_index`, `operation_url`), no URL."""
    return {
        "job_id": job_id,
        "model": where.pop("model", "dall-e-3"),
        "created": CREATED,
        "prompt": PROMPT,
        "index": index,
        **where,
    }


async def test_a_failed_copy_is_handed_to_persist_image_without_generating_again(app_env):
    app_env.configure_emulator(truncate_rate=1.0)
    generated = await activities.generate_images(gen_payload("dall-e-3", "urljob"))
    assert generated["outcome"] == "ok", generated
    assert generated["value"]["images"] == []
    assert generated["value"]["sources"] == [{"index": 0}]  # by index: no URL into history
    receipt = receipt_of(await app_env.blob_names())  # the truncated copy left no image behind
    assert (await kept_receipt(app_env, receipt))["urls"][0]["index"] == 0  # the URL is here
    app_env.configure_emulator(truncate_rate=0.0)

    result = await activities.persist_image(persist_payload("urljob", first_index=0))

    assert result["outcome"] == "ok", result
    blob = await app_env.blob(result["value"]["image"]["blob"])
    assert blob.data == render(PROMPT, 1024, 1024, 0, "png")
    assert blob.metadata["prompt"] == PROMPT
    assert blob.metadata["revised_prompt"] == result["value"]["image"]["revised_prompt"]
    assert app_env.emulator_stats()["billed"]["images"] == 1
    kept = await kept_receipt(app_env, receipt)
    assert_scrubbed(kept)
    assert [s["blob"] for s in kept["stored"]] == [result["value"]["image"]["blob"]]


async def test_a_dalle2_image_whose_copy_failed_is_persisted_from_a_fresh_poll(app_env):
    app_env.configure_emulator(latency_seconds=0.0)
    submitted = await activities.submit_operation(
        {"model": "dall-e-2", "params": GenerationParams(prompt=PROMPT).model_dump(mode="json")}
    )
    assert submitted["outcome"] == "ok", submitted
    operation_url = submitted["value"]["operation_url"]
    poll = {
        "job_id": "d2copy",
        "model": "dall-e-2",
        "created": CREATED,
        "prompt": PROMPT,
        "operation_url": operation_url,
        "n": 1,
        "elapsed_s": 0.0,
        "running_until_s": 0.0,
    }
    app_env.configure_emulator(truncate_rate=1.0)
    polled = await activities.poll_operation(poll)
    assert polled["outcome"] == "ok", polled
    assert polled["value"]["status"] == "succeeded"
    assert polled["value"]["sources"] == [{"index": 0}]
    app_env.configure_emulator(truncate_rate=0.0)

    result = await activities.persist_image(
        persist_payload("d2copy", model="dall-e-2", operation_url=operation_url)
    )

    assert result["outcome"] == "ok", result
    blob = await app_env.blob(result["value"]["image"]["blob"])
    assert blob.data == render(PROMPT, 1024, 1024, 0, "png")
    assert app_env.emulator_stats()["billed"]["images"] == 1  # billed at submit, once
    assert not [n for n in await app_env.blob_names() if "/receipts/" in n]


async def test_dalle2_operation_flow_through_the_orchestrator(app_env):
    app_env.configure_emulator(latency_seconds=0.0)
    job = job_for("dall-e-2", n=2, job_id="d2job")

    run = await app_env.replay(job)

    assert run.output["status"] == "succeeded", run.output
    assert run.names()[0] == "submit_operation"
    assert run.names()[-1] == "delete_operation"
    # The poll that saw the operation succeed stored the images itself.
    assert "persist_image" not in run.names()
    for index, record in enumerate(run.output["images"]):
        blob = await app_env.blob(record["blob"])
        assert blob.data == render(PROMPT, 1024, 1024, index, "png")
        assert blob.content_type == "image/png"
        assert blob.metadata["model"] == "dall-e-2"
        assert blob.metadata["job_id"] == "d2job"
    # The operation was deleted once its images were stored.
    operation_url = next(c.input["operation_url"] for c in run.calls if c.name == "poll_operation")
    polled = await activities.poll_operation(
        {
            "job_id": "d2job",
            "model": "dall-e-2",
            "created": CREATED,
            "prompt": PROMPT,
            "operation_url": operation_url,
            "n": 2,
            "elapsed_s": 0.0,
            "running_until_s": 0.0,
        }
    )
    assert polled["outcome"] == "ok", polled
    assert polled["value"]["status"] == "deleted"
    assert polled["value"].get("images", []) == []  # a deleted operation stores nothing


async def test_dalle3_fan_out_stores_every_image(app_env):
    job = job_for("dall-e-3", n=3, job_id="fanout")

    run = await app_env.replay(job)

    assert run.output["status"] == "succeeded", run.output
    assert run.names().count("generate_images") == 3
    names = await app_env.blob_names()
    images = sorted(n for n in names if "/receipts/" not in n)
    assert images == sorted(i["blob"] for i in run.output["images"])
    assert len(run.output["images"]) == 3
    receipts = [n for n in names if "/receipts/" in n]
    assert len(receipts) == 3  # one per call, each kept as "stored": no URL
    for receipt in receipts:
        assert_scrubbed(await kept_receipt(app_env, receipt))
    assert app_env.emulator_stats()["billed"]["images"] == 3


async def test_throttled_call_is_returned_not_raised_or_slept(app_env):
    app_env.configure_emulator(rpm_per_deployment={"gpt-image-1": 1})
    first = await activities.generate_images(gen_payload("gpt-image-1", "q1"))
    assert first["outcome"] == "ok"

    second = await activities.generate_images(gen_payload("gpt-image-1", "q2"))

    assert second["outcome"] == "retry"
    assert second["code"] == "throttled"
    assert second["retry_after"] > 0


async def test_a_429_storm_still_completes_through_durable_retries(app_env):
    # DALL-E 3 fans out four single-image calls against a quota of two a minute and random
    # 503s; the storm passes once the orchestrator has waited on two durable timers.
    app_env.configure_emulator(rpm_per_deployment={"dall-e-3": 2}, error_rate_503=0.3, seed=7)
    job = job_for("dall-e-3", n=4, job_id="storm", max_attempts=10)

    def storm_passes(timers_fired: int) -> None:
        if timers_fired == 2:
            app_env.configure_emulator(rpm_per_deployment={"dall-e-3": None}, error_rate_503=0.0)

    run = await app_env.replay(job, on_timer=storm_passes)

    assert run.output["status"] == "succeeded", (run.output.get("error"), run.statuses[-3:])
    assert len(run.output["images"]) == 4
    assert any(s["stage"] == "waiting_to_retry" for s in run.statuses)
    assert app_env.emulator_stats()["served"]["rate_limited_429"] >= 1
    assert app_env.emulator_stats()["billed"]["images"] == 4  # nothing generated twice


@pytest.mark.parametrize(
    ("setup", "model", "code"),
    [
        ({"content_filter_words": ["badger"]}, "dall-e-3", "content_filter"),
        ({"api_keys": ["another-key"]}, "dall-e-3", "auth_failed"),
        ({"deployments": {"dall-e-3": None}}, "dall-e-3", "deployment_not_found"),
        ({"content_filter_words": ["badger"]}, "gpt-image-1", "content_filter"),
        ({"api_keys": ["another-key"]}, "gpt-image-1", "auth_failed"),
    ],
)
async def test_terminal_failures_come_back_as_an_error_outcome(app_env, setup, model, code):
    app_env.configure_emulator(**setup)

    result = await activities.generate_images(gen_payload(model, "bad"))

    assert result["outcome"] == "error"
    assert result["code"] == code
    assert app_env.emulator.api_key not in json.dumps(result)
    assert await app_env.blob_names() == []  # nothing half-written


async def test_a_refused_source_url_stores_nothing(app_env):
    url = "http://169.254.169.254/latest/meta-data?sig=secret"
    await keep_receipt_of(url, "evil")

    result = await activities.persist_image(persist_payload("evil", first_index=0))

    assert result["outcome"] == "error"
    assert result["code"] == "image_download_failed"
    assert "secret" not in json.dumps(result)
    (receipt,) = await app_env.blob_names()  # no image: only the receipt, scrubbed
    assert_scrubbed(await kept_receipt(app_env, receipt))


async def test_the_apps_own_logs_carry_no_signed_url_or_key(app_env, caplog):
    """On Azure the worker ships every INFO record to Application Insights with no scrubbing of
    ours in between: the app's own loggers (and the libraries it drives) must not write the
    service's signed image URLs or keys. The URL flow downloads from such a URL."""
    caplog.set_level("INFO")
    result = await activities.generate_images(gen_payload("dall-e-3", "logjob"))
    assert result["outcome"] == "ok", result

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "sig=" not in logged
    key = get_settings().azure_openai_api_key
    assert key is not None
    assert key.get_secret_value() not in logged


# ---- a crash after the service answered: the re-run stores from the receipt ----------------------


class HostDied(BaseException):
    """What the activity sees of a SIGKILL: it stops right there, nothing of it is caught."""


def billed_for(app_env: Any, prompt: str = PROMPT) -> int:
    return int(
        app_env.emulator_stats()["billed"]["by_prompt"].get(prompt, {}).get("generations", 0)
    )


def receipt_of(names: list[str]) -> str:
    (receipt,) = [n for n in names if "/receipts/" in n]
    return receipt


async def kept_receipt(app_env: Any, name: str) -> dict[str, Any]:
    return dict(json.loads((await app_env.blob(name)).data))


def assert_scrubbed(kept: dict[str, Any]) -> None:
    """A receipt whose answer is used up: no image pending, so no signed URL, no block id."""
    assert kept["urls"] == [], kept
    assert kept["staged"] == [], kept
    assert "sig=" not in json.dumps(kept)
    assert "block_ids" not in json.dumps(kept)


async def keep_receipt_of(url: str, job_id: str) -> None:
    """A receipt of a URL answer, as generate_images keeps it, holding `url` for image 0."""
    from shared.blueprints.deps import runtime
    from shared.storage import receipts

    name = receipts.receipt_name(job_id, datetime.fromisoformat(CREATED), 0)
    receipt = receipts.Receipt(
        job_id=job_id,
        first_index=0,
        received=datetime.now(UTC),
        urls=[receipts.UrlImage(index=0, url=url)],
    )
    assert await receipts.keep(runtime().store, name, receipt)


async def _die(*_args: Any, **_kwargs: Any) -> None:
    raise HostDied


async def test_a_crash_while_a_url_image_is_copied_does_not_buy_it_again(app_env, monkeypatch):
    payload = gen_payload("dall-e-3", "rcptjob", size="1792x1024")
    with monkeypatch.context() as patch:
        patch.setattr(ImageStore, "copy_from_url", _die)
        with pytest.raises(HostDied):
            await activities.generate_images(payload)
    names = await app_env.blob_names()
    receipt = receipt_of(names)
    assert receipt.endswith("/rcptjob/receipts/0.json")
    kept = json.loads((await app_env.blob(receipt)).data)
    assert kept["urls"][0]["url"].startswith(app_env.emulator.base_url)  # the service's URL
    assert kept["urls"][0]["expires"]  # from the URL's `se`

    result = await activities.generate_images(payload)  # Durable runs it again, same input

    assert result["outcome"] == "ok", result
    assert billed_for(app_env) == 1
    (record,) = result["value"]["images"]
    assert (await app_env.blob(record["blob"])).data == render(PROMPT, 1792, 1024, 0, "png")
    assert record["revised_prompt"] == kept["urls"][0]["revised_prompt"]
    assert sorted(await app_env.blob_names()) == sorted([record["blob"], receipt])
    assert_scrubbed(await kept_receipt(app_env, receipt))  # rewritten as stored, not deleted
    assert "receipt" not in json.dumps(result)


async def test_a_rerun_after_storing_answers_from_the_receipt_without_buying_or_copying(app_env):
    # The host dies after the images are stored but before Durable recorded the result: the
    # re-run must neither call the service nor copy anything, and answer the same.
    payload = gen_payload("dall-e-3", "storedjob")
    first = await activities.generate_images(payload)
    assert first["outcome"] == "ok", first
    downloads = app_env.emulator_stats()["served"]["image_downloads"]

    again = await activities.generate_images(payload)

    assert again == first
    assert billed_for(app_env) == 1
    assert app_env.emulator_stats()["served"]["image_downloads"] == downloads
    receipt = receipt_of(await app_env.blob_names())
    kept = await kept_receipt(app_env, receipt)
    assert_scrubbed(kept)
    assert [s["blob"] for s in kept["stored"]] == [first["value"]["images"][0]["blob"]]
    assert len(json.dumps(kept)) < 1000  # a few facts: small enough to leave beside the image


async def test_a_crash_between_staging_and_commit_commits_the_staged_blocks(app_env, monkeypatch):
    # 5 MiB: three blocks, two staged while the reply streamed and one when it was sealed.
    app_env.configure_emulator(image_min_bytes=5 * 1024 * 1024)
    payload = gen_payload("gpt-image-1", "b64rcpt", n=2, output_format="png")
    with monkeypatch.context() as patch:
        patch.setattr(ImageStore, "commit_blocks", _die)
        with pytest.raises(HostDied):
            await activities.generate_images(payload)
    receipt = receipt_of(await app_env.blob_names())  # no image is visible yet, only the receipt
    kept = json.loads((await app_env.blob(receipt)).data)
    assert [len(part["block_ids"]) for part in kept["staged"]] == [3, 3]

    result = await activities.generate_images(payload)

    assert result["outcome"] == "ok", result
    assert billed_for(app_env) == 1
    for part, record in zip(kept["staged"], result["value"]["images"], strict=True):
        expected = pad(render(PROMPT, 1024, 1024, record["index"], "png"), "png", 5 * 1024 * 1024)
        assert (await app_env.blob(record["blob"])).data == expected
        client = app_env.service.get_blob_client(app_env.container, record["blob"])
        committed, _ = await client.get_block_list("committed")
        assert [b.id for b in committed] == part["block_ids"]  # exactly the first writer's blocks
    assert_scrubbed(await kept_receipt(app_env, receipt))


async def _rewrite_receipt(app_env: Any, name: str, change: Any) -> None:
    kept = json.loads((await app_env.blob(name)).data)
    change(kept)
    client = app_env.service.get_blob_client(app_env.container, name)
    await client.upload_blob(json.dumps(kept).encode(), overwrite=True)


async def test_an_expired_url_in_a_receipt_fails_clearly_instead_of_buying_again(
    app_env, monkeypatch
):
    payload = gen_payload("dall-e-3", "oldjob")
    with monkeypatch.context() as patch:
        patch.setattr(ImageStore, "copy_from_url", _die)
        with pytest.raises(HostDied):
            await activities.generate_images(payload)
    receipt = receipt_of(await app_env.blob_names())

    def expire(kept: dict[str, Any]) -> None:
        kept["urls"][0]["expires"] = "2000-01-01T00:00:00Z"

    await _rewrite_receipt(app_env, receipt, expire)

    result = await activities.generate_images(payload)

    assert result["outcome"] == "error", result
    assert result["code"] == "image_download_failed"
    assert "expired" in result["message"]
    assert "not generated again" in result["message"]
    assert "sig=" not in json.dumps(result)
    assert billed_for(app_env) == 1
    assert await app_env.blob_names() == [receipt]  # no image; the receipt is kept, scrubbed
    kept = await kept_receipt(app_env, receipt)
    assert_scrubbed(kept)
    assert kept["failed"][0]["code"] == "image_download_failed"
    assert await activities.generate_images(payload) == result  # a re-run answers the same
    assert billed_for(app_env) == 1


async def test_staged_blocks_that_are_gone_fail_clearly_instead_of_buying_again(
    app_env, monkeypatch
):
    payload = gen_payload("gpt-image-1", "gonejob")
    with monkeypatch.context() as patch:
        patch.setattr(ImageStore, "commit_blocks", _die)
        with pytest.raises(HostDied):
            await activities.generate_images(payload)
    receipt = receipt_of(await app_env.blob_names())

    def forget(kept: dict[str, Any]) -> None:  # as if Blob Storage had dropped them (a week on)
        ids = kept["staged"][0]["block_ids"]
        kept["staged"][0]["block_ids"] = [
            base64.b64encode(b"f" * 32 + b"-%08d" % i).decode() for i, _ in enumerate(ids)
        ]

    await _rewrite_receipt(app_env, receipt, forget)

    result = await activities.generate_images(payload)

    assert result["outcome"] == "error", result
    assert result["code"] == "image_download_failed"
    assert "staged blocks" in result["message"]
    assert billed_for(app_env) == 1
    assert await app_env.blob_names() == [receipt]
    assert_scrubbed(await kept_receipt(app_env, receipt))


# ---- every exit that ends the use of an answer leaves no URL and no block id behind ------------


async def test_the_final_persist_attempt_that_fails_drops_the_url_from_the_receipt(app_env):
    app_env.configure_emulator(truncate_rate=1.0)  # every download is cut short: retryable
    generated = await activities.generate_images(gen_payload("dall-e-3", "giveup"))
    assert generated["value"]["sources"] == [{"index": 0}], generated
    receipt = receipt_of(await app_env.blob_names())

    retried = await activities.persist_image(persist_payload("giveup", first_index=0))
    assert retried["outcome"] == "retry", retried
    assert (await kept_receipt(app_env, receipt))["urls"], "the URL is needed for the retry"

    last = await activities.persist_image(persist_payload("giveup", first_index=0, final=True))

    assert last["outcome"] == "retry", last  # the orchestrator gives up on it
    kept = await kept_receipt(app_env, receipt)
    assert_scrubbed(kept)
    assert kept["failed"] == [{"index": 0, "code": "unavailable", "message": last["message"]}]
    app_env.configure_emulator(truncate_rate=0.0)
    rerun = await activities.persist_image(persist_payload("giveup", first_index=0, final=True))
    assert rerun == {"outcome": "error", "code": "unavailable", "message": last["message"]}
    assert billed_for(app_env) == 1
    assert [n for n in await app_env.blob_names() if "/receipts/" not in n] == []


class Unexpected(Exception):
    """A bug in the store path: not an ImageApiError."""


async def _unexpected(*_args: Any, **_kwargs: Any) -> None:
    raise Unexpected("boom at https://x.blob.core.windows.net/c/b?sig=secret")


async def test_an_unexpected_error_committing_leaves_no_block_ids_in_the_receipt(
    app_env, monkeypatch
):
    payload = gen_payload("gpt-image-1", "crashjob")
    monkeypatch.setattr(ImageStore, "commit_blocks", _unexpected)

    result = await activities.generate_images(payload)

    assert result["outcome"] == "error", result
    assert result["code"] == "internal_error"
    assert "secret" not in json.dumps(result)
    receipt = receipt_of(await app_env.blob_names())
    kept = await kept_receipt(app_env, receipt)
    assert_scrubbed(kept)
    assert "secret" not in json.dumps(kept)
    assert await activities.generate_images(payload) == result  # not bought again
    assert billed_for(app_env) == 1


async def test_an_unexpected_error_in_persist_leaves_no_url_in_the_receipt(app_env, monkeypatch):
    app_env.configure_emulator(truncate_rate=1.0)
    generated = await activities.generate_images(gen_payload("dall-e-3", "crashcopy"))
    assert generated["value"]["sources"] == [{"index": 0}], generated
    app_env.configure_emulator(truncate_rate=0.0)
    monkeypatch.setattr(ImageStore, "copy_from_url", _unexpected)

    result = await activities.persist_image(persist_payload("crashcopy", first_index=0))

    assert result["outcome"] == "error", result
    assert result["code"] == "internal_error"
    assert_scrubbed(await kept_receipt(app_env, receipt_of(await app_env.blob_names())))
    assert billed_for(app_env) == 1
