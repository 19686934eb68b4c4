"""The synchronous FLUX flows against the emulator over a real socket, stored in a real Azurite.

FLUX-1.1-pro and FLUX.1-Kontext-pro on Foundry's Image API (`azure-deployment`, api-version
preview, URL replies copied into Blob Storage) and all four FLUX models on Foundry's BFL route
(`bfl-foundry`, Bearer key, base64 streamed into a staged blob). The emulator's deployments are
named after their models; what is asserted is what a user sees: a stored image of the size and
format asked for, and a classified error when the service refuses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
from shared.imaging.factory import client_for
from shared.storage import ImageFormat
from shared.storage.policy import DownloadPolicy
from shared.storage.records import ImageRecord
from shared.storage.store import ImageStore, StagedImage
from tests.integration.blobs import read_blob

LOCAL = DownloadPolicy(allow_http_hosts=("127.0.0.1",))  # the emulator, Azurite


def flux_deployment(emulator: Any, family: Family, flavour: Flavour, **fields: Any) -> Deployment:
    values: dict[str, Any] = {
        "name": family.value,
        "deployment": family.value,
        "family": family,
        "flavour": flavour,
        "endpoint": emulator.base_url,
        # what the settings default to: preview on the Image API, none (→ preview) on the BFL route
        "api_version": "preview" if flavour is Flavour.AZURE_DEPLOYMENT else None,
    }
    values.update(fields)
    return Deployment(**values)


async def generate_into_store(
    store: ImageStore, http: Any, auth: Auth, deployment: Deployment, params: GenerationParams
) -> list[ImageRecord]:
    """Generate as the activity does: base64 streamed into staged blobs, URLs copied."""
    staged: dict[int, StagedImage] = {}

    async def open_sink(ordinal: int) -> StagedImage:
        def name_for(fmt: ImageFormat) -> str:
            return store.blob_name("flux", datetime.now(UTC), ordinal, fmt.ext)

        staged[ordinal] = await store.open_staged(name_for, 32 * 1024 * 1024)
        return staged[ordinal]

    images = await client_for(deployment, http, auth).generate_streamed(params, open_sink)
    records = []
    for i, image in enumerate(images):
        meta = {"prompt": params.prompt}
        if image.streamed is not None:
            records.append(await staged[image.streamed].commit(meta))
        else:
            assert image.url is not None
            name = store.blob_name("flux", datetime.now(UTC), i, "png")
            records.append(await store.copy_from_url(image.url, name, meta, http, LOCAL))
    return records


@pytest.mark.parametrize("family", [Family.FLUX_1_1_PRO, Family.FLUX_1_KONTEXT_PRO])
async def test_flux_on_the_image_api_answers_a_url_copied_into_blob_at_the_asked_size(
    emulator, auth, http, store, family
):
    deployment = flux_deployment(emulator, family, Flavour.AZURE_DEPLOYMENT)
    params = GenerationParams(prompt=f"a badger ({family.value}, image api)", size="1024x768")

    images = await client_for(deployment, http, auth).generate_streamed(params, _no_sink)
    assert len(images) == 1
    assert images[0].url is not None  # a URL reply (A14)

    [record] = await generate_into_store(store, http, auth, deployment, params)
    assert (record.width, record.height, record.content_type) == (1024, 768, "image/png")
    data, _, content_type = await read_blob(store, record.blob)
    assert content_type == "image/png"
    assert data.startswith(b"\x89PNG")


async def _no_sink(ordinal: int) -> Any:
    raise AssertionError("a URL reply opens no sink")


@pytest.mark.parametrize(
    ("family", "size", "fmt", "content_type"),
    [
        (Family.FLUX_1_1_PRO, "1440x256", "png", "image/png"),
        (Family.FLUX_1_KONTEXT_PRO, "1024x1024", "jpeg", "image/jpeg"),
        (Family.FLUX_2_PRO, "1536x1024", "jpeg", "image/jpeg"),
        (Family.FLUX_2_FLEX, "512x768", "png", "image/png"),
    ],
)
async def test_the_bfl_route_streams_a_base64_image_into_blob_at_the_asked_size_and_format(
    emulator, auth, http, store, family, size, fmt, content_type
):
    deployment = flux_deployment(emulator, family, Flavour.BFL_FOUNDRY)
    params = GenerationParams(
        prompt=f"a badger ({family.value}, bfl route)", size=size, output_format=fmt, seed=11
    )

    [record] = await generate_into_store(store, http, auth, deployment, params)

    width, height = (int(v) for v in size.split("x"))
    assert (record.width, record.height, record.content_type) == (width, height, content_type)
    data, _, stored_type = await read_blob(store, record.blob)
    assert stored_type == content_type
    assert record.bytes == len(data)


async def test_the_bfl_route_finds_a_deployment_named_in_lower_case(emulator, auth, http, store):
    # Microsoft's sample passes the deployment name in lower case (M1).
    deployment = flux_deployment(
        emulator, Family.FLUX_2_PRO, Flavour.BFL_FOUNDRY, deployment="flux.2-pro"
    )
    params = GenerationParams(prompt="a lower-case badger", size="1024x1024", output_format="png")
    [record] = await generate_into_store(store, http, auth, deployment, params)
    assert (record.width, record.height) == (1024, 1024)


async def test_a_wrong_key_on_the_bfl_route_is_auth_failed(emulator, http):
    deployment = flux_deployment(emulator, Family.FLUX_2_FLEX, Flavour.BFL_FOUNDRY)
    client = client_for(deployment, http, Auth.from_key("not-the-emulator-key"))
    with pytest.raises(ImageApiError) as info:
        await client.generate_streamed(GenerationParams(prompt="p"), _no_sink)
    assert info.value.code is ErrorCode.AUTH_FAILED
    assert not info.value.retryable


async def test_a_size_the_service_refuses_is_invalid_request_naming_the_property(
    emulator, auth, http
):
    # validate_request refuses this first; here the client is asked directly, as a stale
    # capability table would, to show the service's refusal reaches the job as terminal.
    deployment = flux_deployment(emulator, Family.FLUX_1_KONTEXT_PRO, Flavour.BFL_FOUNDRY)
    client = client_for(deployment, http, auth)
    with pytest.raises(ImageApiError) as info:
        await client.generate_streamed(GenerationParams(prompt="p", size="2048x2048"), _no_sink)
    assert info.value.code is ErrorCode.INVALID_REQUEST
    assert not info.value.retryable
    # the service's sentence, naming the property it refused, reaches the job's error
    assert "Value for property" in info.value.message
    assert any(name in info.value.message for name in ("size", "width", "height"))


async def test_a_flux_2_deployment_is_not_found_on_the_image_api(emulator, auth, http):
    # Settings refuse this configuration (FLUX.2 is not on the Image API, M1/A14); the service
    # would too. The Deployment is built by hand to show what a job would have met.
    deployment = Deployment(
        name="f2",
        deployment=Family.FLUX_2_PRO.value,
        family=Family.FLUX_1_1_PRO,  # the family the client needs to take this flavour
        flavour=Flavour.AZURE_DEPLOYMENT,
        endpoint=emulator.base_url,
        api_version="preview",
    )
    with pytest.raises(ImageApiError) as info:
        await client_for(deployment, http, auth).generate_streamed(
            GenerationParams(prompt="p", size="1024x1024"), _no_sink
        )
    assert not info.value.retryable
    assert info.value.code in (ErrorCode.INVALID_REQUEST, ErrorCode.DEPLOYMENT_NOT_FOUND)
