"""The FLUX requests: Foundry's BFL route (URL path, Bearer auth, BFL body) and FLUX on the
deployment route (OpenAI-style body without BFL-only fields).

The transport is httpx.MockTransport, as in test_client_plumbing: it records the request the
client built and answers the documented reply and error shapes (image-models-2026.md §5) that a
test wants one at a time. The same clients against the emulator's routes are in
tests/integration/imaging/test_flux_clients.py.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

import httpx
import pytest

from shared.imaging import (
    Auth,
    Deployment,
    ErrorCode,
    Family,
    Flavour,
    GenerationParams,
    ImageApiError,
)
from shared.imaging.bfl_foundry import bfl_body
from shared.imaging.factory import client_for
from tests.unit.imaging.memory import generate

SECRET = "0123456789abcdef0123456789abcdef"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 40
B64_REPLY = json.dumps({"data": [{"b64_json": base64.b64encode(PNG).decode()}]}).encode()


def flux(family: Family, flavour: Flavour = Flavour.BFL_FOUNDRY, **fields: object) -> Deployment:
    values: dict[str, object] = {
        "name": "f",
        "deployment": "my-flux",
        "family": family,
        "flavour": flavour,
        "endpoint": "https://res.services.ai.azure.com/",
        "api_version": None,
    }
    values.update(fields)
    return Deployment(**values)  # type: ignore[arg-type]


class Recorder:
    """A transport that keeps every request and answers with one canned reply."""

    def __init__(self, status: int = 200, content: bytes = B64_REPLY, **headers: str) -> None:
        self.requests: list[httpx.Request] = []
        self.status, self.content, self.headers = status, content, headers

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, content=self.content, headers=self.headers)


async def run(
    deployment: Deployment, params: GenerationParams, recorder: Recorder, auth: Auth | None = None
):
    async with httpx.AsyncClient(transport=httpx.MockTransport(recorder)) as http:
        client = client_for(deployment, http, auth or Auth.from_key(SECRET))
        return await generate(client, params)


PARAMS = GenerationParams(prompt="a badger", size="1536x1024", output_format="jpeg")


@pytest.mark.parametrize(
    ("family", "path"),
    [
        (Family.FLUX_2_PRO, "flux-2-pro"),
        (Family.FLUX_2_FLEX, "flux-2-flex"),
        (Family.FLUX_1_KONTEXT_PRO, "flux-kontext-pro"),
        (Family.FLUX_1_1_PRO, "flux-pro-1.1"),
    ],
)
async def test_each_model_posts_to_its_bfl_path_with_the_key_as_bearer_and_the_bfl_body(
    family, path
):
    recorder = Recorder()
    images = await run(flux(family), PARAMS.model_copy(update={"seed": 7}), recorder)

    (request,) = recorder.requests
    assert request.method == "POST"
    assert str(request.url) == (
        f"https://res.services.ai.azure.com/providers/blackforestlabs/v1/{path}?api-version=preview"
    )
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert "api-key" not in request.headers
    assert json.loads(request.content) == {
        "model": "my-flux",
        "prompt": "a badger",
        "width": 1536,
        "height": 1024,
        "output_format": "jpeg",
        "n": 1,
        "seed": 7,
    }
    assert [base64.b64decode(image.b64_json or "") for image in images] == [PNG]


async def test_a_configured_api_version_is_sent_instead_of_preview():
    recorder = Recorder()
    await run(flux(Family.FLUX_2_PRO, api_version="2026-01-01-preview"), PARAMS, recorder)
    assert recorder.requests[0].url.params["api-version"] == "2026-01-01-preview"


@dataclass
class Token:
    token: str
    expires_on: int


class OneCredential:
    async def get_token(self, *scopes: str, **kwargs: object) -> Token:
        return Token("entra-token", int(time.time()) + 3600)

    async def close(self) -> None:
        pass


async def test_without_a_key_an_entra_token_is_the_bearer():
    recorder = Recorder()
    auth = Auth.from_credential(OneCredential())  # type: ignore[arg-type]
    await run(flux(Family.FLUX_2_FLEX), PARAMS, recorder, auth)
    assert recorder.requests[0].headers["authorization"] == "Bearer entra-token"


def test_the_body_leaves_out_an_absent_seed_and_falls_back_to_the_default_size_and_png():
    body = bfl_body(GenerationParams(prompt="p"), "flux.2-pro")
    assert body == {
        "model": "flux.2-pro",
        "prompt": "p",
        "width": 1024,
        "height": 1024,
        "output_format": "png",
        "n": 1,
    }


def test_the_body_refuses_more_than_one_image_rather_than_drop_some():
    with pytest.raises(ImageApiError) as info:
        bfl_body(GenerationParams(prompt="p", n=2), "m")
    assert info.value.code is ErrorCode.INVALID_REQUEST


async def test_an_asynchronous_task_reply_is_a_terminal_error_without_its_url():
    reply = {"id": "task-1", "polling_url": "https://api.eu2.bfl.ai/v1/get_result?id=task-1&sig=s"}
    recorder = Recorder(content=json.dumps(reply).encode())
    with pytest.raises(ImageApiError) as info:
        await run(flux(Family.FLUX_2_PRO), PARAMS, recorder)
    assert info.value.code is ErrorCode.OPERATION_FAILED
    assert not info.value.retryable
    assert "not supported on flavour bfl-foundry" in info.value.message
    assert "bfl.ai" not in info.value.message
    assert len(recorder.requests) == 1  # nothing was polled


@pytest.mark.parametrize(
    ("status", "body", "headers", "code"),
    [
        (401, {"error": {"code": "401", "message": "Access denied"}}, {}, ErrorCode.AUTH_FAILED),
        (403, {"error": {"message": "Forbidden"}}, {}, ErrorCode.AUTH_FAILED),
        (
            404,
            {"error": {"code": "DeploymentNotFound", "message": "no such deployment"}},
            {},
            ErrorCode.DEPLOYMENT_NOT_FOUND,
        ),
        (429, {"error": {"message": "slow down"}}, {"Retry-After": "12"}, ErrorCode.THROTTLED),
        (
            422,
            {"detail": [{"loc": ["body", "width"], "msg": "must be a multiple of 16"}]},
            {},
            ErrorCode.INVALID_REQUEST,
        ),
        (400, {"error": {"message": "bad body"}}, {}, ErrorCode.INVALID_REQUEST),
        (503, {"error": {"message": "busy"}}, {}, ErrorCode.UNAVAILABLE),
    ],
)
async def test_refusals_are_classified_like_the_other_routes(status, body, headers, code):
    recorder = Recorder(status, json.dumps(body).encode(), **headers)
    with pytest.raises(ImageApiError) as info:
        await run(flux(Family.FLUX_2_PRO), PARAMS, recorder)
    assert info.value.code is code
    assert info.value.status == status
    if status == 429:
        assert info.value.retry_after_s == 12
    if status == 422:  # FastAPI's validation shape: the job's error names the refused field
        assert info.value.message == "body.width: must be a multiple of 16"
    assert SECRET not in str(info.value)


# ---- FLUX on the deployment route (Foundry's OpenAI-compatible Image API) --------------------


@pytest.mark.parametrize("family", [Family.FLUX_1_1_PRO, Family.FLUX_1_KONTEXT_PRO])
async def test_flux_on_the_image_api_sends_prompt_n_size_only_and_keeps_the_url(family):
    reply = {"created": 1, "data": [{"url": "https://blob.example/img.png"}]}
    recorder = Recorder(content=json.dumps(reply).encode())
    deployment = flux(family, Flavour.AZURE_DEPLOYMENT, api_version="preview")
    images = await run(deployment, GenerationParams(prompt="a badger", size="1024x1024"), recorder)

    (request,) = recorder.requests
    assert str(request.url) == (
        "https://res.services.ai.azure.com/openai/deployments/my-flux/images/generations"
        "?api-version=preview"
    )
    assert request.headers["api-key"] == SECRET
    assert json.loads(request.content) == {"prompt": "a badger", "n": 1, "size": "1024x1024"}
    assert [image.url for image in images] == ["https://blob.example/img.png"]
