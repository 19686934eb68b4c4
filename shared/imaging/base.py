"""What every flavour shares: sending one request, classifying failure, reading image data.

A flavour module only says which URL, which body and how to read the reply. There is no retry or
sleep here on purpose: the orchestrator waits on durable timers, so a retry survives a host restart
and costs nothing while waiting.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol, TypeVar, cast

import httpx

from shared.imaging.auth import Auth
from shared.imaging.b64stream import B64JsonSplitter
from shared.imaging.errors import (
    classify_response,
    classify_transport_error,
    explain_retired,
    invalid_body_error,
)
from shared.imaging.multipart import multipart_body
from shared.imaging.sse import EVENT_STREAM, SseImageReader, is_event_stream
from shared.imaging.streamed_body import StreamedBody
from shared.imaging.types import (
    MAX_PARTIAL_IMAGES,
    Deployment,
    EditSources,
    ErrorCode,
    Family,
    Flavour,
    GeneratedImage,
    GenerationParams,
    ImageApiError,
    InputFile,
    OpenSink,
    OperationState,
    Previews,
    deployment_streams,
)

log = logging.getLogger(__name__)

# Image generation takes 10-30 s for DALL-E 3 and up to ~2 min for gpt-image: the read timeout
# is long, everything else short so that a dead endpoint fails fast.
GENERATE_TIMEOUT = httpx.Timeout(connect=10.0, read=240.0, write=30.0, pool=10.0)
POLL_TIMEOUT = httpx.Timeout(connect=10.0, read=30.0, write=10.0, pool=10.0)
MAX_REPLY_BYTES = 256 * 1024 * 1024  # ten 4096² base64 PNGs fit; a runaway body does not
FLUX_FAMILIES = frozenset(
    {Family.FLUX_1_1_PRO, Family.FLUX_1_KONTEXT_PRO, Family.FLUX_2_PRO, Family.FLUX_2_FLEX}
)


class ReplyReader(Protocol):
    """What a streamed reply is fed to: the JSON splitter or the event-stream reader."""

    async def feed(self, chunk: bytes) -> None: ...


R = TypeVar("R", bound=ReplyReader)


class BaseImageClient:
    """Shared plumbing; flavours override `generate` or the three operation methods."""

    flavour: ClassVar[Flavour]
    bearer_key: ClassVar[bool] = False  # send a key as `Authorization: Bearer` (OpenAI)

    def __init__(
        self,
        deployment: Deployment,
        http: httpx.AsyncClient,
        auth: Auth,
        *,
        generate_timeout: httpx.Timeout = GENERATE_TIMEOUT,
        poll_timeout: httpx.Timeout = POLL_TIMEOUT,
    ) -> None:
        if deployment.flavour is not self.flavour:
            raise ValueError(
                f"{type(self).__name__} serves {self.flavour}, not {deployment.flavour}"
            )
        self.deployment = deployment
        self.http = http
        self.auth = auth
        self.generate_timeout = generate_timeout
        self.poll_timeout = poll_timeout
        self.endpoint = deployment.endpoint.rstrip("/")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.deployment.name!r} at {self.endpoint})"

    # ----------------------------------------------------------------- the protocol
    async def generate_streamed(
        self,
        params: GenerationParams,
        open_sink: OpenSink,
        sources: EditSources | None = None,
        *,
        previews: Previews | None = None,
    ) -> list[GeneratedImage]:
        raise NotImplementedError(f"{self.flavour} has no synchronous generation")

    async def submit(self, params: GenerationParams, sources: EditSources | None = None) -> str:
        raise NotImplementedError(f"{self.flavour} has no asynchronous operations")

    async def get_operation(self, operation_url: str) -> OperationState:
        raise NotImplementedError(f"{self.flavour} has no asynchronous operations")

    async def delete_operation(self, operation_url: str) -> None:
        raise NotImplementedError(f"{self.flavour} has no asynchronous operations")

    # ----------------------------------------------------------------- plumbing
    def _classify(
        self, status: int, headers: httpx.Headers, content: bytes, *, operation: bool
    ) -> ImageApiError:
        """The error for a refused request; a service with its own error shapes (BFL's API)
        overrides this. `operation`: the request was about an existing operation."""
        return classify_response(status, headers, content, operation=operation)

    async def _request_args(
        self,
        body: dict[str, Any] | None,
        content: StreamedBody | None,
        *,
        accept: str = "application/json",
    ) -> dict[str, Any]:
        """`headers` and `json=` or `content=` for one request: a streamed body is sent with
        its own Content-Type and exact Content-Length, so httpx does not chunk it."""
        headers = await self.auth.headers(bearer_key=self.bearer_key)
        headers["Accept"] = accept
        if content is None:
            return {"json": body, "headers": headers}
        if body is not None:
            raise ValueError("a request has a JSON body or a streamed one, not both")
        headers.update(content.headers)
        return {"content": content, "headers": headers}

    async def _send(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        content: StreamedBody | None = None,
        limits: httpx.Timeout,
        operation: bool = False,
        ok: tuple[int, ...] = (200,),
    ) -> httpx.Response:
        """One request; any non-`ok` status or transport fault becomes an ImageApiError."""
        args = await self._request_args(body, content)
        try:
            response = await self.http.request(
                method, url, timeout=limits, follow_redirects=False, **args
            )
        except httpx.HTTPError as exc:
            raise classify_transport_error(exc) from None
        if response.status_code not in ok:
            raise self._refused(
                self._classify(
                    response.status_code, response.headers, response.content, operation=operation
                )
            )
        return response

    async def _send_streamed(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        content: StreamedBody | None = None,
        accept: str = "application/json",
        reader_for: Callable[[httpx.Response], R],
    ) -> tuple[int, R]:
        """One request (a JSON `body`, or a streamed `content` such as an edit's inputs) whose
        success reply is fed chunk by chunk, instead of being held, to the reader
        `reader_for(response)` picks from its headers (an event stream or JSON); failures are
        classified as in `_send`. Returns the status and that reader.

        An event stream whose reader is `complete` (every image asked for has arrived) is
        done with: the reply is closed at once, unread, and a break, a timeout or anything
        else after that is logged and ignored; the call was paid for."""
        args = await self._request_args(body, content, accept=accept)
        request = self.http.build_request(method, url, timeout=self.generate_timeout, **args)
        try:
            response = await self.http.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise classify_transport_error(exc) from None
        reader: R | None = None
        try:
            if response.status_code != 200:
                content_bytes = await response.aread()
                raise self._refused(
                    self._classify(
                        response.status_code, response.headers, content_bytes, operation=False
                    )
                )
            reader = reader_for(response)
            total = 0
            # an async generator (typed as an iterator): closed at once when left early
            chunks_of = cast(AsyncGenerator[bytes, None], response.aiter_bytes())
            async with aclosing(chunks_of) as chunks:
                async for chunk in chunks:
                    total += len(chunk)
                    if total > MAX_REPLY_BYTES:
                        raise invalid_body_error(response.status_code, "reply too large")
                    await reader.feed(chunk)
                    if isinstance(reader, SseImageReader) and reader.complete:
                        break  # the images are in: whatever follows is not needed
        except httpx.HTTPError as exc:
            if not await _salvaged(reader):
                raise classify_transport_error(exc) from None
            log.warning(
                "the image service's event stream broke after its last image (%s): ignored",
                type(exc).__name__,
            )
        finally:
            await _close_quietly(response)
        assert reader is not None  # an error before the reader raised above
        return response.status_code, reader

    def _refused(self, exc: ImageApiError) -> ImageApiError:
        """The service's refusal, saying so when this deployment's model has been retired."""
        return explain_retired(exc, self.deployment, datetime.now(UTC).date())

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        """The reply as a JSON object; truncated or non-JSON bodies are a retryable fault."""
        if len(response.content) > MAX_REPLY_BYTES:
            raise invalid_body_error(response.status_code, "reply too large")
        try:
            payload = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            raise invalid_body_error(response.status_code) from None
        if not isinstance(payload, dict):
            raise invalid_body_error(response.status_code, "not a JSON object")
        return payload

    def _same_origin(self, url: str) -> str:
        """An absolute URL on this deployment's endpoint. Relative URLs are resolved against it;
        any other host is refused, so the key is never sent somewhere a reply pointed us."""
        absolute = httpx.URL(self.endpoint + "/").join(url)
        mine = httpx.URL(self.endpoint)
        # httpx.URL normalises case and drops default ports, so https://x:443 == https://X.
        if (mine.scheme, mine.host, mine.port) != (absolute.scheme, absolute.host, absolute.port):
            raise ImageApiError(
                ErrorCode.INVALID_REQUEST,
                "The operation URL does not belong to the configured endpoint.",
            )
        return str(absolute)


async def _salvaged(reader: ReplyReader | None) -> bool:
    """After the connection broke: whether an event stream's reader holds every image asked
    for all the same (its last completed event arrived whole, maybe without its blank line)."""
    if not isinstance(reader, SseImageReader):
        return False
    try:
        await reader.end()
    except ImageApiError:
        return False  # the event it ended inside was no completed image
    return reader.complete


async def _close_quietly(response: httpx.Response) -> None:
    """Close a streamed reply; closing never fails a call (the answer, if any, is in)."""
    try:
        await response.aclose()
    except Exception as exc:
        log.warning("closing the image service's reply failed (%s)", type(exc).__name__)


def images_from(data: Any, status: int = 200) -> list[GeneratedImage]:
    """The `data` array of a generation reply (sync reply or an operation's `result`)."""
    if not isinstance(data, list) or not data:
        raise invalid_body_error(status, "no images in the reply")
    images: list[GeneratedImage] = []
    for item in data:
        if not isinstance(item, dict):
            raise invalid_body_error(status, "image entry is not an object")
        url, b64 = item.get("url"), item.get("b64_json")
        if bool(url) == bool(b64) or not isinstance(url or b64, str):
            raise invalid_body_error(status, "image entry needs exactly one of url / b64_json")
        revised = item.get("revised_prompt")
        images.append(
            GeneratedImage(
                url=url or None,
                b64_json=b64 or None,
                revised_prompt=revised if isinstance(revised, str) else None,
            )
        )
    return images


def request_body(
    params: GenerationParams,
    family: Family,
    *,
    model: str | None = None,
    partial_images: int | None = None,
) -> dict[str, Any]:
    """The JSON body for a family: only the parameters that family accepts.

    DALL-E asks for URLs explicitly (we copy them to Blob Storage, never through history);
    the GPT image line rejects `response_format` and always answers base64. FLUX on Foundry's
    Image API documents prompt, n and size only and answers URLs (A14): no `response_format`,
    whose effect there is unverified, and no `user`. Which values a platform takes (webp,
    moderation, FLUX's output_format) was checked by `validate_request`: here a family that has
    the option gets it when it was asked for, and no other body ever carries it.
    `partial_images` (the client decided the deployment streams, `deployment_streams`) asks the
    GPT image line for an event stream with that many partial images.
    """
    body: dict[str, Any] = {"prompt": params.prompt, "n": params.n}
    if model is not None:
        body["model"] = model
    if params.size is not None:
        body["size"] = params.size
    if family in FLUX_FAMILIES:
        if params.output_format is not None:
            body["output_format"] = params.output_format
        return body
    if family.is_gpt_image:
        for name in ("quality", "output_format", "output_compression", "background", "moderation"):
            value = getattr(params, name)
            if value is not None:
                body[name] = value
        if partial_images is not None:
            body["stream"] = True
            body["partial_images"] = partial_images
    else:
        body["response_format"] = "url"
        if family is Family.DALLE3:
            if params.quality is not None:
                body["quality"] = params.quality
            if params.style is not None:
                body["style"] = params.style
    if params.user is not None:
        body["user"] = params.user
    return body


def edit_fields(
    params: GenerationParams,
    family: Family,
    *,
    model: str | None = None,
    partial_images: int | None = None,
) -> dict[str, str]:
    """The text fields of a multipart edit: what `request_body` sends the family, as strings,
    without `response_format` (an edit's reply is read like a generation's whatever it is)
    and `moderation` (no multipart field of the edits route, image-models-2026.md §3), plus
    `input_fidelity` for the GPT image line. FLUX (Kontext on Foundry's Image API) takes
    prompt, n and size only. A stream request is the fields `stream`="true" and
    `partial_images`."""
    fields = request_body(params, family, model=model, partial_images=partial_images)
    fields.pop("response_format", None)
    fields.pop("moderation", None)
    if family in FLUX_FAMILIES:  # multipart reaches FLUX on Foundry's Image API only (A14)
        fields.pop("output_format", None)
    if family.is_gpt_image and params.input_fidelity is not None:
        fields["input_fidelity"] = params.input_fidelity
    # a form field says true/false as JSON does: str(True) is "True"
    return {
        name: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for name, value in fields.items()
    }


def edit_files(sources: EditSources, family: Family) -> list[tuple[str, InputFile]]:
    """The file parts: one image as `image`, several each as `image[]` (what the official SDK
    and Azure's how-to send), then the mask as `mask`. FLUX.1-Kontext-pro edits one image and
    takes no mask."""
    if not sources.images:
        raise ImageApiError(ErrorCode.INVALID_REQUEST, "An edit needs at least one image.")
    if family in FLUX_FAMILIES and (len(sources.images) > 1 or sources.mask is not None):
        raise ImageApiError(
            ErrorCode.INVALID_REQUEST,
            f"{family.model_id} edits exactly one image and takes no mask.",
        )
    name = "image" if len(sources.images) == 1 else "image[]"
    files = [(name, image) for image in sources.images]
    if sources.mask is not None:
        files.append(("mask", sources.mask))
    return files


def edit_body(
    params: GenerationParams,
    family: Family,
    sources: EditSources,
    *,
    model: str | None = None,
    boundary: str | None = None,
    partial_images: int | None = None,
) -> StreamedBody:
    """The streamed multipart/form-data body of an `images/edits` request."""
    return multipart_body(
        edit_fields(params, family, model=model, partial_images=partial_images),
        edit_files(sources, family),
        boundary=boundary,
    )


class SyncGenerationClient(BaseImageClient):
    """The synchronous flavours: one POST, images in the reply. Subclasses give the URL (of the
    generations or the edits route) and whether the body names the model; a route with its own
    body shape overrides `_body` / `_edit_body`, one whose reply can mean something other than
    images `_check_reply`."""

    def _url(self, *, edit: bool = False) -> str:
        raise NotImplementedError

    def _model_in_body(self) -> str | None:
        return None

    def _body(self, params: GenerationParams, partial_images: int | None = None) -> dict[str, Any]:
        """`partial_images` is given only when this deployment streams (`_streaming`)."""
        return request_body(
            params,
            self.deployment.family,
            model=self._model_in_body(),
            partial_images=partial_images,
        )

    def _edit_body(
        self, params: GenerationParams, sources: EditSources, partial_images: int | None = None
    ) -> StreamedBody:
        return edit_body(
            params,
            self.deployment.family,
            sources,
            model=self._model_in_body(),
            partial_images=partial_images,
        )

    def _check_reply(self, payload: dict[str, Any], status: int) -> None:
        """Raise when a success reply is not an image reply this route can use."""

    def _streaming(self, previews: Previews | None) -> Previews | None:
        """The previews to ask for: none unless this model streams on this route; a flavour
        that cannot stream ignores them (the job simply shows no preview)."""
        if previews is None or not deployment_streams(self.deployment):
            return None  # e.g. an older api-version has no `stream` (image-models-2026.md §4)
        if not 0 <= previews.partial_images <= MAX_PARTIAL_IMAGES:
            raise ValueError(f"partial_images must be 0-{MAX_PARTIAL_IMAGES}")
        return previews

    async def generate_streamed(
        self,
        params: GenerationParams,
        open_sink: OpenSink,
        sources: EditSources | None = None,
        *,
        previews: Previews | None = None,
    ) -> list[GeneratedImage]:
        stream = self._streaming(previews)
        partial_images = None if stream is None else stream.partial_images

        def reader_for(response: httpx.Response) -> B64JsonSplitter | SseImageReader:
            # By what came back, not by what was asked: a service may ignore `stream`.
            if is_event_stream(response.headers.get("content-type")):
                return SseImageReader(
                    open_sink, stream, images=params.n, status=response.status_code
                )
            return B64JsonSplitter(open_sink)

        accept = "application/json" if stream is None else EVENT_STREAM
        if sources is None:
            status, reader = await self._send_streamed(
                "POST",
                self._url(),
                body=self._body(params, partial_images),
                accept=accept,
                reader_for=reader_for,
            )
        else:
            status, reader = await self._send_streamed(
                "POST",
                self._url(edit=True),
                content=self._edit_body(params, sources, partial_images),
                accept=accept,
                reader_for=reader_for,
            )
        if isinstance(reader, SseImageReader):
            return await reader.finish()
        return self._images_in(reader, status)

    def _images_in(self, splitter: B64JsonSplitter, status: int) -> list[GeneratedImage]:
        """The images of a JSON reply, whose base64 went into sinks as it streamed in."""
        try:
            payload = json.loads(splitter.rest())
        except (ValueError, UnicodeDecodeError):
            raise invalid_body_error(status) from None
        if not isinstance(payload, dict):
            raise invalid_body_error(status, "not a JSON object")
        self._check_reply(payload, status)
        images = images_from(payload.get("data"), status)
        # The splitter left each b64_json as the ordinal of the sink that took its bytes.
        return [
            dataclasses.replace(image, b64_json=None, streamed=int(image.b64_json))
            if image.b64_json is not None and image.b64_json.isdigit()
            else image
            for image in images
        ]
