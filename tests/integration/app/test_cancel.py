"""A job canceled while it generates, with the real activities against the emulator and
Azurite: the generation in flight is awaited and stores its images, then the discard activity
deletes everything of the job — images and receipts — and nothing of any other job."""

from __future__ import annotations

import json

from shared.blueprints import activities
from shared.orchestration.names import CANCEL_EVENT
from tests.integration.app.test_activities import gen_payload, job_for
from tests.unit.app.engine import RaiseEvent, scheduled


async def test_a_canceled_job_leaves_no_blob_behind(app_env):
    # Another job of the same day whose id starts like this one's: its blobs must stay.
    other = await activities.generate_images(gen_payload("dall-e-3", "cancelme2", n=1))
    assert other["outcome"] == "ok", other
    kept = sorted(await app_env.blob_names())
    job = job_for("dall-e-3", n=2, job_id="cancelme")

    run = await app_env.replay(
        job,
        events=[RaiseEvent(CANCEL_EVENT, {"reason": "test"}, when=scheduled("generate_images"))],
    )

    assert run.output["status"] == "canceled", run.output
    assert run.output["images"] == []
    assert run.names() == ["generate_images", "generate_images", "discard_job_blobs"]
    discard = json.loads([e for e in run.history if e["EventType"] == 5][-1]["Result"])
    assert discard == {"outcome": "ok", "value": {"deleted": 4}}  # 2 images + 2 receipts
    assert sorted(await app_env.blob_names()) == kept


async def test_a_billed_activity_that_finds_the_cancel_marker_calls_no_service(app_env):
    """What DELETE writes before it raises the event: generate_images and submit_operation read
    it first and answer job_canceled without calling the service (nothing billed, nothing
    stored); the job's discard removes the marker with the rest."""
    from datetime import datetime

    from shared.orchestration.contracts import SubmitInput
    from shared.storage.naming import cancel_marker_name
    from tests.integration.app.test_activities import CREATED

    container = app_env.service.get_container_client(app_env.container)
    if not await container.exists():
        await container.create_container()
    marker = cancel_marker_name("markedjob", datetime.fromisoformat(CREATED))
    await container.upload_blob(marker, b"canceled\n")

    generated = await activities.generate_images(gen_payload("dall-e-3", "markedjob", n=1))
    submit = gen_payload("dall-e-2", "markedjob", n=1, size="256x256")
    submitted = await activities.submit_operation(
        SubmitInput(
            model="dall-e-2", params=submit["params"], job_id="markedjob", created=CREATED
        ).model_dump(mode="json")
    )

    for answer in (generated, submitted):
        assert answer["outcome"] == "error", answer
        assert answer["code"] == "job_canceled"
    assert app_env.emulator_stats()["billed"]["generations"] == 0
    assert await app_env.blob_names() == [marker]
    discarded = await activities.discard_job_blobs({"job_id": "markedjob", "created": CREATED})
    assert discarded["value"]["deleted"] == 1
    assert await app_env.blob_names() == []


async def test_a_previews_only_discard_deletes_the_previews_and_keeps_the_images(app_env):
    """What a streaming job that ends with preview blobs left over (their call could not delete
    them) asks for: only `{folder}/previews/` goes; the stored image and its receipt stay."""
    from datetime import datetime

    from shared.storage.naming import preview_blob_name
    from tests.integration.app.test_activities import CREATED

    stored = await activities.generate_images(gen_payload("dall-e-3", "leftover", n=1))
    assert stored["outcome"] == "ok", stored
    kept = sorted(await app_env.blob_names())
    container = app_env.service.get_container_client(app_env.container)
    when = datetime.fromisoformat(CREATED)
    for index in (0, 1):
        await container.upload_blob(preview_blob_name("leftover", when, index, "png"), b"frame")

    discarded = await activities.discard_job_blobs(
        {"job_id": "leftover", "created": CREATED, "previews_only": True}
    )

    assert discarded == {"outcome": "ok", "value": {"deleted": 2}}
    assert sorted(await app_env.blob_names()) == kept
