"""`start_job` when Durable's start fails: what an edit staged is kept exactly when the job runs.

The one place a stand-in Durable client is used: the case under test — `start_new` raising after
the instance was created (a timeout on the way back), or losing a race to a concurrent request
with the same Idempotency-Key — cannot be provoked on demand from the real engine.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import azure.functions as func
import pytest

from shared.blueprints.http_api import start_job
from shared.imaging.types import Deployment, Family, Flavour, GenerationParams
from shared.models import JobInput

DEPLOYMENT = Deployment(
    name="g2",
    deployment="g2",
    family=Family.GPT_IMAGE_2,
    flavour=Flavour.AZURE_DEPLOYMENT,
    endpoint="https://x.openai.azure.com",
    api_version="2025-04-01-preview",
)


def job(created: str) -> JobInput:
    return JobInput(
        id="a" * 32,
        model="g2",
        deployment=DEPLOYMENT,
        params=GenerationParams(prompt="make it winter"),
        created=created,
        deadline_seconds=900,
        max_attempts=6,
    )


class Client:
    """Durable's client as start_job uses it: start_new raises, and from then on get_status
    shows `appears` (the job Durable has under that id by then, or nothing)."""

    def __init__(self, appears: JobInput | None) -> None:
        self.appears = appears
        self.stored: JobInput | None = None

    async def start_new(self, *args: Any) -> None:
        self.stored = self.appears
        raise TimeoutError("the answer was lost")

    async def get_status(self, instance_id: str, show_input: bool = False) -> Any:
        if self.stored is None:
            return SimpleNamespace(runtime_status=None, input_=None)
        return SimpleNamespace(
            runtime_status=SimpleNamespace(value="Running"),
            input_=json.dumps(self.stored.model_dump(mode="json")),
            custom_status=None,
            output=None,
        )


@pytest.fixture(autouse=True)
def settings(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The app settings start_job reads (its 202 answers a signed status link)."""
    from shared.settings import reset_settings_cache

    for name, value in {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "IMAGE_REQUESTS_QUEUE": "image-requests",
        "AZURE_OPENAI_ENDPOINT": "https://x.openai.azure.com",
        "STATUS_LINK_SECRET": "unit-test-status-link-secret-32-chars",
    }.items():
        monkeypatch.setenv(name, value)
    reset_settings_cache()
    yield
    reset_settings_cache()


REQUEST = func.HttpRequest("POST", "http://h/api/images/edits", body=b"", headers={})


async def run(stored: JobInput | None, key: str | None) -> tuple[func.HttpResponse | None, list]:
    undone: list[bool] = []
    mine = job("2026-12-01T10:00:00.000001+00:00")

    async def stage(j: JobInput) -> Any:
        async def undo() -> None:
            undone.append(True)

        return j, undo

    client = Client(stored)
    try:
        answer = await start_job(REQUEST, client, mine, key, stage)  # type: ignore[arg-type]
    except TimeoutError:
        return None, undone
    return answer, undone


async def test_a_start_that_failed_after_creating_the_job_keeps_its_inputs():
    answer, undone = await run(job("2026-12-01T10:00:00.000001+00:00"), key=None)
    assert answer is not None
    assert answer.status_code == 202
    assert undone == []


async def test_a_race_lost_to_another_request_removes_this_ones_inputs():
    answer, undone = await run(job("2026-12-01T10:00:00.000002+00:00"), key="k")
    assert answer is not None
    assert answer.status_code == 202  # the winner's job, as any repeat is answered
    assert undone == [True]


@pytest.mark.parametrize("key", [None, "k"])
async def test_a_start_that_failed_outright_removes_the_inputs_and_raises(key):
    answer, undone = await run(None, key=key)
    assert answer is None
    assert undone == [True]
