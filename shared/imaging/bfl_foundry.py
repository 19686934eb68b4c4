"""Foundry's Black Forest Labs provider route: FLUX by BFL's body shape, synchronously.

`POST {endpoint}/providers/blackforestlabs/v1/{path}?api-version=preview` with the key (or an
Entra token) as `Authorization: Bearer`, a JSON body with `width`/`height` instead of `size`, and
a `{"data": [{"b64_json"}]}` reply that is streamed into blobs like the GPT image line's (M1,
A14; facts from image-models-2026.md §5b). The URL path is BFL's model path, not the Azure model
id (`FLUX.2-pro` → `flux-2-pro`, A14), while the body's `model` names the deployment.

An edit posts to the same URL with the references streamed into the JSON body as plain base64
`input_image`, `input_image_2`, … (FLUX.2-pro up to 8, FLUX.2-flex up to 10, Kontext one; §5b).
Without a size the service follows the input's, so an edit sends `width`/`height` only when a
size was asked for (FLUX.1-Kontext-pro: `aspect_ratio` instead).

No source shows Foundry answering this route asynchronously; BFL's own API does (`id` +
`polling_url`, flavour `bfl`). Such a reply here is refused as a terminal error instead of being
polled: following a URL the reply names would need its own rules (host, auth, expiry), and
retrying would pay for another image.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shared.imaging.base import SyncGenerationClient
from shared.imaging.bfl_api import aspect_ratio, references_body
from shared.imaging.streamed_body import StreamedBody
from shared.imaging.types import (
    BFL_FOUNDRY_MAX_REFERENCES,
    BFL_MODEL_PATHS,
    EditSources,
    ErrorCode,
    Family,
    Flavour,
    GenerationParams,
    ImageApiError,
)

DEFAULT_API_VERSION = "preview"  # the only api-version any source names for this route (A14, M1)
# What validate_request fills in for FLUX (shared.models); kept for params built elsewhere.
DEFAULT_SIZE = "1024x1024"
DEFAULT_FORMAT = "png"
ASYNC_REPLY_KEYS = ("polling_url", "id")


def _one_image(params: GenerationParams) -> None:
    if params.n != 1:
        raise ImageApiError(
            ErrorCode.INVALID_REQUEST, "FLUX on the BFL route makes one image per call (n = 1)."
        )


def _dimensions(size: str) -> tuple[int, int]:
    width, _, height = size.partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise ImageApiError(ErrorCode.INVALID_REQUEST, f"size {size!r} is not WxH.")
    return int(width), int(height)


def bfl_body(params: GenerationParams, model: str) -> dict[str, Any]:
    """The route's JSON body: BFL's fields only. Unknown fields are silently ignored there (T4),
    so sending an OpenAI-style `size` or `quality` would not fail, just be lost."""
    _one_image(params)
    width, height = _dimensions(params.size or DEFAULT_SIZE)
    body: dict[str, Any] = {
        "model": model,
        "prompt": params.prompt,
        "width": width,
        "height": height,
        "output_format": params.output_format or DEFAULT_FORMAT,
        "n": 1,
    }
    if params.seed is not None:
        body["seed"] = params.seed
    return body


def bfl_edit_fields(params: GenerationParams, model: str, family: Family) -> dict[str, Any]:
    """An edit's fields besides the references: `bfl_body`'s, except that the size is sent only
    when one was asked for (no 1024x1024 default: the service follows the input's size), and
    FLUX.1-Kontext-pro gets it as `aspect_ratio` ("3:2") instead of `width`/`height`."""
    _one_image(params)
    body: dict[str, Any] = {"model": model, "prompt": params.prompt}
    if params.size is not None:
        width, height = _dimensions(params.size)
        if family is Family.FLUX_1_KONTEXT_PRO:
            body["aspect_ratio"] = aspect_ratio(width, height)
        else:
            body["width"], body["height"] = width, height
    body["output_format"] = params.output_format or DEFAULT_FORMAT
    body["n"] = 1
    if params.seed is not None:
        body["seed"] = params.seed
    return body


def bfl_edit_body(
    params: GenerationParams, model: str, family: Family, sources: EditSources
) -> StreamedBody:
    """The streamed JSON body of an edit: `bfl_edit_fields`, then `input_image`, …"""
    fields = bfl_edit_fields(params, model, family)
    return references_body(fields, sources, family, BFL_FOUNDRY_MAX_REFERENCES)


class BflFoundryClient(SyncGenerationClient):
    flavour = Flavour.BFL_FOUNDRY
    bearer_key = True  # "Authorization: Bearer <API key>"; `api-key` here is unverified (A14)

    def _url(self, *, edit: bool = False) -> str:  # an edit posts to the same path
        path = BFL_MODEL_PATHS.get(self.deployment.family)
        if path is None:
            raise ValueError(f"{self.deployment.family.model_id} is not served on the BFL route")
        version = self.deployment.api_version or DEFAULT_API_VERSION
        return (
            f"{self.endpoint}/providers/blackforestlabs/v1/{path}"
            f"?api-version={quote(version, safe='')}"
        )

    # BFL's route cannot stream (`streams_previews`): `partial_images` is never given here.
    def _body(self, params: GenerationParams, partial_images: int | None = None) -> dict[str, Any]:
        return bfl_body(params, self.deployment.deployment)

    def _edit_body(
        self, params: GenerationParams, sources: EditSources, partial_images: int | None = None
    ) -> StreamedBody:
        return bfl_edit_body(params, self.deployment.deployment, self.deployment.family, sources)

    def _check_reply(self, payload: dict[str, Any], status: int) -> None:
        if "data" not in payload and any(key in payload for key in ASYNC_REPLY_KEYS):
            # The polling URL is not repeated: it may be signed.
            raise ImageApiError(
                ErrorCode.OPERATION_FAILED,
                "Foundry's BFL route answered with an asynchronous task (id / polling_url) "
                "instead of an image; that reply is not supported on flavour bfl-foundry.",
                status=status,
            )
