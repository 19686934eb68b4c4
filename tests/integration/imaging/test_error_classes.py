"""Each error class, produced by the emulator over a real socket, as the orchestrator sees it."""

from __future__ import annotations

import time
import uuid
from functools import partial

import pytest

from shared.imaging import (
    Auth,
    ErrorCode,
    Flavour,
    GenerationParams,
    ImageApiError,
)
from shared.imaging.factory import client_for
from shared.storage.policy import DownloadPolicy
from tests.unit.imaging.memory import generate

LOCAL = DownloadPolicy(allow_http_hosts=("127.0.0.1",))  # the emulator, Azurite
SYNC = [
    (Flavour.AZURE_DEPLOYMENT, "dall-e-3"),
    (Flavour.AZURE_V1, "gpt-image-1"),
    (Flavour.OPENAI, "dall-e-3"),
]


async def failure(client, params: GenerationParams) -> ImageApiError:
    is_async = client.deployment.flavour is Flavour.AZURE_DALLE2_ASYNC
    call = client.submit if is_async else partial(generate, client)
    with pytest.raises(ImageApiError) as info:
        await call(params)
    return info.value


ALL = [*SYNC, (Flavour.AZURE_DALLE2_ASYNC, "dall-e-2")]


@pytest.mark.parametrize("shape", ["content_policy_violation", "contentFilter"])
@pytest.mark.parametrize(("flavour", "model"), ALL)
async def test_prompt_rejected_by_the_safety_system(
    deployment, auth, http, configure, flavour, model, shape
):
    await configure(content_filter_words=["forbidden"], content_filter_shape=shape)
    client = client_for(deployment(flavour, model), http, auth)
    err = await failure(client, GenerationParams(prompt="a forbidden badger"))
    assert err.code is ErrorCode.CONTENT_FILTER
    assert not err.retryable
    assert "safety system" in err.message


@pytest.mark.parametrize(("flavour", "model"), SYNC)
async def test_invalid_parameter_keeps_the_service_message(deployment, auth, http, flavour, model):
    client = client_for(deployment(flavour, model), http, auth)
    err = await failure(client, GenerationParams(prompt="x", size="999x999"))
    assert err.code is ErrorCode.INVALID_REQUEST
    assert err.status == 400
    assert "size" in err.message


@pytest.mark.parametrize(("flavour", "model"), ALL)
async def test_wrong_key_is_auth_failed_and_never_echoed(
    deployment, http, emulator, flavour, model
):
    wrong = f"wrong-{uuid.uuid4().hex}"
    client = client_for(deployment(flavour, model), http, Auth.from_key(wrong))
    err = await failure(client, GenerationParams(prompt="x"))
    assert err.code is ErrorCode.AUTH_FAILED
    assert wrong not in str(err)
    assert wrong not in repr(client)


async def test_openai_flavour_sends_the_key_as_bearer(deployment, auth, http):
    # Like OpenAI, the emulator's /v1 route ignores an api-key header: only Bearer passes.
    client = client_for(deployment(Flavour.OPENAI, "gpt-image-1"), http, auth)
    assert await generate(client, GenerationParams(prompt="bearer works"))


@pytest.mark.parametrize(("flavour", "model"), SYNC)
async def test_unknown_deployment(deployment, auth, http, flavour, model):
    dep = deployment(flavour, model, deployment="no-such-deployment")
    err = await failure(client_for(dep, http, auth), GenerationParams(prompt="x"))
    assert err.code is ErrorCode.DEPLOYMENT_NOT_FOUND
    assert not err.retryable


@pytest.mark.parametrize(("flavour", "model"), ALL)
async def test_throttled_carries_the_wait(deployment, auth, http, configure, flavour, model):
    await configure(rpm_per_deployment={model: 1})
    client = client_for(deployment(flavour, model), http, auth)
    params = GenerationParams(prompt="x")
    if flavour is Flavour.AZURE_DALLE2_ASYNC:
        await client.submit(params)
    else:
        await generate(client, params)
    err = await failure(client, params)
    assert err.code is ErrorCode.THROTTLED
    assert err.retryable
    assert err.retry_after_s is not None
    assert 0 < err.retry_after_s <= 60


@pytest.mark.parametrize("fault", ["error_rate_500", "error_rate_503", "drop_rate"])
@pytest.mark.parametrize(("flavour", "model"), ALL)
async def test_server_errors_and_dropped_connections_are_retryable(
    deployment, auth, http, configure, flavour, model, fault
):
    await configure(**{fault: 1.0})
    client = client_for(deployment(flavour, model), http, auth)
    err = await failure(client, GenerationParams(prompt="x"))
    assert err.code is ErrorCode.UNAVAILABLE
    assert err.retryable


async def test_poll_of_a_dropped_connection_is_retryable(deployment, auth, http, configure):
    client = client_for(deployment(Flavour.AZURE_DALLE2_ASYNC, "dall-e-2"), http, auth)
    url = await client.submit(GenerationParams(prompt="x"))
    await configure(drop_rate=1.0)
    with pytest.raises(ImageApiError) as info:
        await client.get_operation(url)
    assert info.value.code is ErrorCode.UNAVAILABLE


async def test_nothing_listening_is_retryable(deployment, auth, http):
    dep = deployment(Flavour.AZURE_DEPLOYMENT, "dall-e-3", endpoint="http://127.0.0.1:9")
    err = await failure(client_for(dep, http, auth), GenerationParams(prompt="x"))
    assert err.code is ErrorCode.UNAVAILABLE


# ------------------------------------------------------------------ downloading results


async def url_result(deployment, auth, http, prompt: str) -> str:
    client = client_for(deployment(Flavour.AZURE_DEPLOYMENT, "dall-e-3"), http, auth)
    [image] = await generate(client, GenerationParams(prompt=prompt))
    assert image.url is not None
    return image.url


async def nothing_stored(store) -> bool:
    await store.ensure_container()
    container = store.service.get_container_client(store.container)
    return [b.name async for b in container.list_blobs()] == []


async def test_truncated_download_leaves_no_blob(deployment, auth, http, store, configure):
    url = await url_result(deployment, auth, http, "truncate me")
    await configure(truncate_rate=1.0)
    with pytest.raises(ImageApiError) as info:
        await store.copy_from_url(url, "t/0.png", {"prompt": "x"}, http, LOCAL)
    assert info.value.code is ErrorCode.UNAVAILABLE  # worth another try: the URL is still valid
    assert await nothing_stored(store)


async def test_expired_result_url_is_refused(deployment, auth, http, store, configure):
    await configure(url_ttl_seconds=0.01)
    url = await url_result(deployment, auth, http, "expire me")
    # The URL's expiry has one-second resolution: wait (with a deadline) until the emulator
    # itself refuses it, then check the store does the right thing with it.
    deadline = time.monotonic() + 5
    while (await http.get(url)).status_code != 403:
        assert time.monotonic() < deadline, "URL never expired"
    with pytest.raises(ImageApiError) as info:
        await store.copy_from_url(url, "e/0.png", {"prompt": "x"}, http, LOCAL)
    assert info.value.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert info.value.status == 403
    assert "sig=" not in info.value.message
    assert await nothing_stored(store)


async def test_tampered_result_url_is_refused(deployment, auth, http, store):
    url = await url_result(deployment, auth, http, "tamper")
    forged = url.replace("sig=", "sig=AAAA")
    with pytest.raises(ImageApiError) as info:
        await store.copy_from_url(forged, "f/0.png", {}, http, LOCAL)
    assert info.value.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert await nothing_stored(store)


async def test_result_url_refused_by_the_default_policy(deployment, auth, http, store):
    # Production policy: plain http on loopback is not an Azure blob host.
    url = await url_result(deployment, auth, http, "policy")
    with pytest.raises(ImageApiError) as info:
        await store.copy_from_url(url, "p/0.png", {}, http, DownloadPolicy())
    assert info.value.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert await nothing_stored(store)


async def test_oversize_result_is_refused(deployment, auth, http, store):
    url = await url_result(deployment, auth, http, "big")
    tiny = DownloadPolicy(allow_http_hosts=("127.0.0.1",), max_bytes=1024)
    with pytest.raises(ImageApiError) as info:
        await store.copy_from_url(url, "b/0.png", {}, http, tiny)
    assert info.value.code is ErrorCode.IMAGE_DOWNLOAD_FAILED
    assert "larger" in info.value.message
    assert await nothing_stored(store)
