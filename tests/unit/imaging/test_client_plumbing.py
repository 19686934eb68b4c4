"""Transport faults, request bodies and auth headers, without a server.

The transport here is httpx.MockTransport: it only raises network errors or returns broken bodies
that the emulator cannot be asked to produce deterministically. Everything a real server does is
tested against the emulator in tests/integration/imaging.
"""

from __future__ import annotations

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
from shared.imaging.base import request_body
from shared.imaging.factory import client_for
from tests.unit.imaging.memory import generate

SECRET = "0123456789abcdef0123456789abcdef"


def deployment(flavour: Flavour = Flavour.AZURE_DEPLOYMENT, family: Family = Family.DALLE3):
    return Deployment(
        name="d",
        deployment="dep",
        family=family,
        flavour=flavour,
        endpoint="https://res.openai.azure.com",
        api_version="2024-10-21",
    )


def client_with(handler, flavour: Flavour = Flavour.AZURE_DEPLOYMENT):
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return client_for(deployment(flavour), http, Auth.from_key(SECRET)), http


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.ReadError("reset"),
    ],
)
async def test_network_faults_are_unavailable_and_retryable(exc):
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    client, http = client_with(handler)
    async with http:
        with pytest.raises(ImageApiError) as info:
            await generate(client, GenerationParams(prompt="p"))
    assert info.value.code is ErrorCode.UNAVAILABLE
    assert info.value.retryable
    assert SECRET not in str(info.value)


@pytest.mark.parametrize(
    "content",
    [
        b'{"created": 1, "data": [{"url": "https://x/y.png"',
        b"<html>ok</html>",
        b"[]",
        b'{"created": 1}',
        b'{"data": [{"url": null}]}',
    ],
)
async def test_a_success_status_with_an_unusable_body_is_retryable(content):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=content)

    client, http = client_with(handler)
    async with http:
        with pytest.raises(ImageApiError) as info:
            await generate(client, GenerationParams(prompt="p"))
    assert info.value.code is ErrorCode.UNAVAILABLE


async def test_operation_urls_on_another_host_never_receive_the_key():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "running"})

    client, http = client_with(handler, Flavour.AZURE_DALLE2_ASYNC)
    async with http:
        with pytest.raises(ImageApiError):
            await client.get_operation("https://evil.example/openai/operations/images/1")
    assert seen == []


def test_gpt_image_never_sends_response_format_and_dalle_asks_for_urls():
    params = GenerationParams(
        prompt="p",
        n=2,
        size="1024x1024",
        quality="high",
        style="vivid",
        output_format="png",
        background="transparent",
        user="u",
    )
    gpt = request_body(params, Family.GPT_IMAGE)
    assert "response_format" not in gpt
    assert "style" not in gpt
    assert gpt["output_format"] == "png"
    assert gpt["background"] == "transparent"
    d3 = request_body(params, Family.DALLE3)
    assert d3["response_format"] == "url"
    assert d3["style"] == "vivid"
    assert d3["quality"] == "high"
    assert "output_format" not in d3
    assert "background" not in d3
    d2 = request_body(params, Family.DALLE2, model="dep")
    assert d2["response_format"] == "url"
    assert d2["model"] == "dep"
    assert "quality" not in d2
    assert "style" not in d2


def test_client_refuses_a_deployment_of_another_flavour():
    from shared.imaging.azure_v1 import AzureV1Client

    with pytest.raises(ValueError, match="azure-v1"):
        AzureV1Client(deployment(Flavour.OPENAI), httpx.AsyncClient(), Auth.from_key("k"))


# ------------------------------------------------------------------ auth


@dataclass
class Token:
    token: str
    expires_on: int


class CountingCredential:
    """Stands in for DefaultAzureCredential: counts how often a token is fetched."""

    def __init__(self, lifetime_s: int) -> None:
        self.calls: list[tuple[str, ...]] = []
        self.lifetime_s = lifetime_s

    async def get_token(self, *scopes: str, **kwargs: object) -> Token:
        self.calls.append(scopes)
        return Token(f"token-{len(self.calls)}", int(time.time()) + self.lifetime_s)

    async def close(self) -> None:
        pass


async def test_token_is_cached_until_near_expiry():
    cred = CountingCredential(lifetime_s=3600)
    auth = Auth.from_credential(cred)  # type: ignore[arg-type]
    first = await auth.headers()
    second = await auth.headers()
    assert first == second == {"Authorization": "Bearer token-1"}
    assert cred.calls == [("https://cognitiveservices.azure.com/.default",)]


async def test_a_token_about_to_expire_is_refreshed():
    cred = CountingCredential(lifetime_s=60)  # inside the refresh margin
    auth = Auth.from_credential(cred)  # type: ignore[arg-type]
    await auth.headers()
    assert await auth.headers() == {"Authorization": "Bearer token-2"}


async def test_key_goes_in_api_key_for_azure_and_bearer_for_openai():
    auth = Auth.from_key(SECRET)
    assert await auth.headers() == {"api-key": SECRET}
    assert await auth.headers(bearer_key=True) == {"Authorization": f"Bearer {SECRET}"}
    assert SECRET not in repr(auth)
    assert SECRET not in str(auth)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "/openai/operations/images/1?api-version=v",
            "https://res.openai.azure.com/openai/operations/images/1?api-version=v",
        ),
        (
            "https://RES.openai.azure.com:443/openai/operations/images/1",
            "https://res.openai.azure.com/openai/operations/images/1",
        ),
    ],
)
def test_operation_urls_relative_or_absolute_resolve_on_the_endpoint(given, expected):
    from shared.imaging.azure_dalle2_async import AzureDalle2AsyncClient

    client = AzureDalle2AsyncClient(
        deployment(Flavour.AZURE_DALLE2_ASYNC, Family.DALLE2),
        httpx.AsyncClient(),
        Auth.from_key("k"),
    )
    assert client._same_origin(given) == expected
    for foreign in (
        "http://res.openai.azure.com/x",
        "https://res.openai.azure.com:8443/x",
        "https://res.openai.azure.com.evil.example/x",
    ):
        with pytest.raises(ImageApiError):
            client._same_origin(foreign)
