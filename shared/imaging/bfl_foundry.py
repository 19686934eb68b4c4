"""Foundry's Black Forest Labs provider route: FLUX by BFL's body shape, synchronously.

`POST {endpoint}/providers/blackforestlabs/v1/{path}?api-version=preview` with the key (or an
Entra token) as `Authorization: Bearer`, a JSON body with `width`/`height` instead of `size`, and
a `{"data": [{"b64_json"}]}` reply that is streamed into blobs like the GPT image line's (M1,
A14; facts from image-models-2026.md §5b). The URL path is BFL's model path, not the Azure model
id (`FLUX.2-pro` → `flux-2-pro`, A14), while the body's `model` names the deployment.

No source shows Foundry answering this route asynchronously; BFL's own API does (`id` +
`polling_url`, flavour `bfl`). Such a reply here is refused as a terminal error instead of being
polled: following a URL the reply names would need its own rules (host, auth, expiry), and
retrying would pay for another image.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shared.imaging.base import SyncGenerationClient
from shared.imaging.types import (
    BFL_MODEL_PATHS,
    ErrorCode,
    Flavour,
    GenerationParams,
    ImageApiError,
)

DEFAULT_API_VERSION = "preview"  # the only api-version any source names for this route (A14, M1)
# What validate_request fills in for FLUX (shared.models); kept for params built elsewhere.
DEFAULT_SIZE = "1024x1024"
DEFAULT_FORMAT = "png"
ASYNC_REPLY_KEYS = ("polling_url", "id")


def bfl_body(params: GenerationParams, model: str) -> dict[str, Any]:
    """The route's JSON body: BFL's fields only. Unknown fields are silently ignored there (T4),
    so sending an OpenAI-style `size` or `quality` would not fail, just be lost."""
    if params.n != 1:
        raise ImageApiError(
            ErrorCode.INVALID_REQUEST, "FLUX on the BFL route makes one image per call (n = 1)."
        )
    width, _, height = (params.size or DEFAULT_SIZE).partition("x")
    if not (width.isdigit() and height.isdigit()):
        raise ImageApiError(ErrorCode.INVALID_REQUEST, f"size {params.size!r} is not WxH.")
    body: dict[str, Any] = {
        "model": model,
        "prompt": params.prompt,
        "width": int(width),
        "height": int(height),
        "output_format": params.output_format or DEFAULT_FORMAT,
        "n": 1,
    }
    if params.seed is not None:
        body["seed"] = params.seed
    return body


class BflFoundryClient(SyncGenerationClient):
    flavour = Flavour.BFL_FOUNDRY
    bearer_key = True  # "Authorization: Bearer <API key>"; `api-key` here is unverified (A14)

    def _url(self) -> str:
        path = BFL_MODEL_PATHS.get(self.deployment.family)
        if path is None:
            raise ValueError(f"{self.deployment.family.model_id} is not served on the BFL route")
        version = self.deployment.api_version or DEFAULT_API_VERSION
        return (
            f"{self.endpoint}/providers/blackforestlabs/v1/{path}"
            f"?api-version={quote(version, safe='')}"
        )

    def _body(self, params: GenerationParams) -> dict[str, Any]:
        return bfl_body(params, self.deployment.deployment)

    def _check_reply(self, payload: dict[str, Any], status: int) -> None:
        if "data" not in payload and any(key in payload for key in ASYNC_REPLY_KEYS):
            # The polling URL is not repeated: it may be signed.
            raise ImageApiError(
                ErrorCode.OPERATION_FAILED,
                "Foundry's BFL route answered with an asynchronous task (id / polling_url) "
                "instead of an image; that reply is not supported on flavour bfl-foundry.",
                status=status,
            )
