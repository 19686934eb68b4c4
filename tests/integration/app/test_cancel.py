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
