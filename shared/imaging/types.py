"""The one interface every image API flavour sits behind.

The orchestration and activities only ever see these types; each flavour module (DALL-E 2
operation polling, the deployment route, the v1 route, OpenAI's own API) translates them to its
wire format. Keeping the error classification here is what lets the orchestrator decide "wait on a
durable timer and retry" versus "fail now" without knowing which API it talked to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict


class Flavour(StrEnum):
    """How to reach a deployment: which route and request shape."""

    AZURE_DALLE2_ASYNC = "azure-dalle2-async"  # images/generations:submit + polling
    AZURE_DEPLOYMENT = "azure-deployment"  # /openai/deployments/{d}/images/generations?api-version=
    AZURE_V1 = "azure-v1"  # /openai/v1/images/generations, deployment in body `model`
    OPENAI = "openai"  # https://api.openai.com/v1/images/generations, Bearer key
    # Foundry's Black Forest Labs provider route: synchronous, base64 reply, key as Bearer:
    # POST {endpoint}/providers/blackforestlabs/v1/{model path}?api-version=preview
    BFL_FOUNDRY = "bfl-foundry"
    # Black Forest Labs' own API: asynchronous (POST /v1/{model} -> id + polling_url; poll until
    # Ready; result.sample is a signed URL that expires after 10 minutes), header x-key.
    BFL = "bfl"


class Family(StrEnum):
    """Which model: decides the valid parameters and whether results are URLs or base64.

    One member per model whose options or lifecycle differ (gpt-image-2 takes free sizes,
    gpt-image-1.5 retires on another day than gpt-image-1). `gpt-image` stays the name of
    gpt-image-1 because operators' IMAGE_MODELS JSON and running jobs' history already say it;
    `gpt-image-1` is read as the same member (`_missing_`).
    """

    DALLE2 = "dall-e-2"
    DALLE3 = "dall-e-3"
    GPT_IMAGE = "gpt-image"  # gpt-image-1
    GPT_IMAGE_1_MINI = "gpt-image-1-mini"
    GPT_IMAGE_1_5 = "gpt-image-1.5"
    GPT_IMAGE_2 = "gpt-image-2"
    # FLUX on Foundry's OpenAI-style Image API (URL replies) and on the BFL routes.
    FLUX_1_1_PRO = "FLUX-1.1-pro"
    FLUX_1_KONTEXT_PRO = "FLUX.1-Kontext-pro"
    FLUX_2_PRO = "FLUX.2-pro"
    FLUX_2_FLEX = "FLUX.2-flex"

    @classmethod
    def _missing_(cls, value: object) -> Family | None:
        return cls.GPT_IMAGE if value == "gpt-image-1" else None

    @property
    def model_id(self) -> str:
        """The model's id as the services and the lifecycle tables name it."""
        return "gpt-image-1" if self is Family.GPT_IMAGE else self.value

    @property
    def is_gpt_image(self) -> bool:
        """The GPT image line: base64 replies, no `response_format`, the shared option set."""
        return self in GPT_IMAGE_FAMILIES


# Black Forest Labs' model paths, on Foundry's provider route and on BFL's own API alike
# (A14, B4: the path is not the model id).
BFL_MODEL_PATHS: dict[Family, str] = {
    Family.FLUX_2_PRO: "flux-2-pro",
    Family.FLUX_2_FLEX: "flux-2-flex",
    Family.FLUX_1_KONTEXT_PRO: "flux-kontext-pro",
    Family.FLUX_1_1_PRO: "flux-pro-1.1",
}

# Reference images per FLUX edit (A14, B4): BFL's own API takes FLUX.2-pro/-flex 8 and Kontext 1;
# Foundry's BFL route FLUX.2-flex 10. One table for the clients (which refuse more: BFL ignores
# unknown fields, so an extra reference would be a paid, unrelated image) and the capabilities.
BFL_MAX_REFERENCES: dict[Family, int] = {
    Family.FLUX_2_PRO: 8,
    Family.FLUX_2_FLEX: 8,
    Family.FLUX_1_KONTEXT_PRO: 1,
}
BFL_FOUNDRY_MAX_REFERENCES: dict[Family, int] = {**BFL_MAX_REFERENCES, Family.FLUX_2_FLEX: 10}

GPT_IMAGE_FAMILIES = frozenset(
    {Family.GPT_IMAGE, Family.GPT_IMAGE_1_MINI, Family.GPT_IMAGE_1_5, Family.GPT_IMAGE_2}
)


class Deployment(BaseModel):
    """One configured model: the public name callers use and where it really lives."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str  # what callers put in `model`
    deployment: str  # the Azure deployment name (or OpenAI model id)
    family: Family
    flavour: Flavour
    endpoint: str  # e.g. https://myres.openai.azure.com or http://127.0.0.1:7072
    api_version: str | None = None  # required for the azure-* flavours except v1


class GenerationParams(BaseModel):
    """A validated request, reduced to what the image API needs. Travels through history (small)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    prompt: str
    n: int = 1
    size: str | None = None
    quality: str | None = None
    style: str | None = None
    output_format: str | None = None  # gpt-image: png | jpeg (| webp on OpenAI)
    background: str | None = None  # gpt-image: transparent | opaque | auto
    output_compression: int | None = None  # gpt-image: 0-100, jpeg/webp only
    moderation: str | None = None  # gpt-image on OpenAI: low | auto
    seed: int | None = None  # FLUX on the BFL routes: the same seed and prompt, the same image
    input_fidelity: str | None = None  # edits, gpt-image-1 / -1.5 / -2: high | low
    user: str | None = None


class EditInputs(BaseModel):
    """An edit's staged inputs, by blob name in the images container (they were checked and
    committed by the HTTP starter before the job started): small, so it travels through
    history; the bytes never do. `images` in the caller's order; the mask applies to the first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    images: tuple[str, ...]
    mask: str | None = None


class InputFile(Protocol):
    """One staged input as a client sends it: streamed from Blob Storage chunk by chunk, so a
    20 MB reference image is never held whole (shared/storage/inputs.py opens these)."""

    @property
    def filename(self) -> str: ...  # e.g. "image-0.png": the multipart part's filename

    @property
    def content_type(self) -> str: ...  # image/png | image/jpeg | image/webp

    @property
    def size(self) -> int: ...  # bytes: lets a body state its Content-Length up front

    def chunks(self) -> AsyncIterator[bytes]: ...  # the bytes, in order; may be iterated once


@dataclass(frozen=True)
class EditSources:
    """What an edit call streams to the service: the reference images in order, and the mask."""

    images: list[InputFile]
    mask: InputFile | None = None


@dataclass(frozen=True)
class GeneratedImage:
    """One image as the API returned it: exactly one of url / b64_json / streamed is set."""

    url: str | None = None
    b64_json: str | None = field(default=None, repr=False)
    revised_prompt: str | None = None
    streamed: int | None = None  # generate_streamed: the ordinal of the sink that got its bytes


class OperationStatus(StrEnum):
    NOT_RUNNING = "notRunning"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    DELETED = "deleted"


@dataclass(frozen=True)
class OperationState:
    """A DALL-E 2 operation as last polled."""

    status: OperationStatus
    images: list[GeneratedImage] = field(default_factory=list)
    error: ImageApiError | None = None
    retry_after_s: float | None = None  # the service's own pacing hint, when it sent one


class ErrorCode(StrEnum):
    """What went wrong, in the words the job's status reports to the caller."""

    CONTENT_FILTER = "content_filter"  # terminal
    INVALID_REQUEST = "invalid_request"  # terminal
    AUTH_FAILED = "auth_failed"  # terminal
    DEPLOYMENT_NOT_FOUND = "deployment_not_found"  # terminal
    THROTTLED = "throttled"  # retry after retry_after_s
    UNAVAILABLE = "unavailable"  # 5xx / connection failure / timeout: retry
    OPERATION_FAILED = "operation_failed"  # async operation failed/canceled for another reason
    IMAGE_DOWNLOAD_FAILED = "image_download_failed"  # source URL expired/refused/not an image

    @property
    def retryable(self) -> bool:
        return self in (ErrorCode.THROTTLED, ErrorCode.UNAVAILABLE)


class ImageApiError(Exception):
    """A classified failure of the image API. Never carries keys or signed URLs in its message."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        *,
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after_s = retry_after_s

    @property
    def retryable(self) -> bool:
        return self.code.retryable


class ByteSink(Protocol):
    """Where a streamed image's decoded bytes go (a staged blob), chunk by chunk."""

    async def write(self, chunk: bytes) -> None: ...


# Opens the sink for the ordinal-th image of a streamed reply (`generate_streamed`).
OpenSink = Callable[[int], Awaitable[ByteSink]]

# The most partial images a streaming request may ask for (image-models-2026.md §4: 0-3).
MAX_PARTIAL_IMAGES = 3
# The flavours that reach a route taking `stream` + `partial_images` (generations and edits):
# Azure's deployment route (2025-04-01-preview and later), Azure's v1 route and OpenAI's API.
STREAMING_FLAVOURS = frozenset({Flavour.AZURE_DEPLOYMENT, Flavour.AZURE_V1, Flavour.OPENAI})


# The deployment route's first api-version taking `stream` + `partial_images` (§4, A1/A8).
STREAMING_API_VERSION = "2025-04-01"


def streams_previews(family: Family, flavour: Flavour) -> bool:
    """Whether this model on this platform can stream partial images while it works: the GPT
    image line on the routes that take `stream` (image-models-2026.md §4). Whether a configured
    deployment streams also depends on its api-version: ask `deployment_streams`."""
    return family.is_gpt_image and flavour in STREAMING_FLAVOURS


def deployment_streams(deployment: Deployment) -> bool:
    """Whether a job on this deployment streams partial images: a model and platform that
    stream (`streams_previews`) and, on Azure's deployment route, an api-version of
    2025-04-01(-preview) or later (an older one has no `stream`). The one rule for the job's
    `partial_images`, `ModelInfo.previews` and the client's request."""
    if not streams_previews(deployment.family, deployment.flavour):
        return False
    if deployment.flavour is Flavour.AZURE_DEPLOYMENT:
        return (deployment.api_version or "")[:10] >= STREAMING_API_VERSION
    return True


class PreviewSink(ByteSink, Protocol):
    """Where one partial image's decoded bytes go; `finish` is awaited once all of them were
    written, with the event's `partial_image_index`, to publish the frame (commit its blob);
    `abandon` instead when the frame turned out unusable (no index, invalid base64): its bytes
    are never published, and the next `write` starts the next frame."""

    async def finish(self, frame: int) -> None: ...

    async def abandon(self) -> None: ...


@dataclass(frozen=True)
class Previews:
    """Ask a streaming model for `partial_images` (1-3) partial frames per image; each frame's
    bytes go to `open(ordinal)` (the ordinal-th image of the reply, counted like `OpenSink`'s)."""

    partial_images: int
    open: Callable[[int], Awaitable[PreviewSink]]


class ImageApiClient(Protocol):
    """What every flavour implements; flavours without operations raise NotImplementedError."""

    deployment: Deployment

    async def generate_streamed(
        self,
        params: GenerationParams,
        open_sink: OpenSink,
        sources: EditSources | None = None,
        *,
        previews: Previews | None = None,
    ) -> list[GeneratedImage]:
        """Synchronous flows: one call; base64 images are decoded into `open_sink(ordinal)` as
        the reply streams in and come back with `streamed=ordinal`, URL images with `url`.
        With `sources` the call is an edit (`.../images/edits`, or the BFL reference images),
        its inputs streamed into the request body. With `previews` (only where
        `streams_previews`) the call asks for a server-sent event stream and each partial
        image is decoded into `previews.open(ordinal)`; a flavour that cannot stream ignores it.
        """
        ...

    async def submit(self, params: GenerationParams, sources: EditSources | None = None) -> str:
        """DALL-E 2 / BFL async: start an operation, return its operation URL. With `sources`
        (BFL only) the task is an edit with those reference images."""
        ...

    async def get_operation(self, operation_url: str) -> OperationState:
        """DALL-E 2 async: poll an operation."""
        ...

    async def delete_operation(self, operation_url: str) -> None:
        """DALL-E 2 async: delete a finished operation (its images must be stored first)."""
        ...
