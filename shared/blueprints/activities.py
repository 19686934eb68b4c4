"""The activities of the image job: the only code that talks to the image API and Blob Storage.

Each takes and returns small JSON. An image-API failure is *returned*, never raised, and never
slept on:

    {"outcome": "ok", ...}                                       success
    {"outcome": "retry", "retry_after": s | None, "code", "message"}  throttled / unavailable
    {"outcome": "error", "code", "message"}                      terminal (content filter, 400, ...)

so the orchestrator decides, on a durable timer, whether and when to try again. Base64 images are
decoded and written to Blob Storage here, and only the blob's name and facts go back to history.
"""

from __future__ import annotations

import base64
import binascii
import logging
import traceback
from collections import defaultdict
from datetime import datetime
from typing import Any

from shared.blueprints.deps import runtime
from shared.imaging.errors import safe_message
from shared.imaging.types import (
    Deployment,
    ErrorCode,
    GeneratedImage,
    GenerationParams,
    ImageApiError,
    OperationStatus,
)
from shared.settings import SettingsError
from shared.storage import sniff
from shared.storage.formats import MAGIC_BYTES_NEEDED

GENERATE = "generate_images"
PERSIST = "persist_image"
SUBMIT = "submit_operation"
POLL = "poll_operation"
DELETE = "delete_operation"

Json = dict[str, Any]
log = logging.getLogger(__name__)

# How long DALL-E 2 operations of each deployment took, learnt from polls (seconds, EWMA). The
# poll schedule uses it to poll densely around the time an operation usually finishes.
_typical_s: defaultdict[str, float | None] = defaultdict(lambda: None)
EWMA_WEIGHT = 0.3


def _failure(exc: ImageApiError) -> Json:
    if exc.retryable:
        return {
            "outcome": "retry",
            "retry_after": exc.retry_after_s,
            "code": exc.code.value,
            "message": exc.message,
        }
    return {"outcome": "error", "code": exc.code.value, "message": exc.message}


def _crash(activity: str, exc: Exception) -> Json:
    """An unexpected exception, logged with its frames and a redacted message (messages may hold
    signed URLs); the result carries the type only."""
    if isinstance(exc, SettingsError):
        return {"outcome": "error", "code": "configuration_error", "message": str(exc)}
    frames = "".join(traceback.format_tb(exc.__traceback__))
    log.error(
        "activity %s failed unexpectedly: %s: %s\n%s",
        activity,
        type(exc).__name__,
        safe_message(str(exc)),
        frames,
    )
    return {
        "outcome": "error",
        "code": "internal_error",
        "message": f"{activity} failed unexpectedly ({type(exc).__name__})",
    }


def _metadata(payload: Json, revised_prompt: str | None) -> dict[str, str | None]:
    params = payload.get("params") or {}
    return {
        "job_id": payload["job_id"],
        "model": payload.get("model"),
        "prompt": payload.get("prompt") or params.get("prompt"),
        "revised_prompt": revised_prompt,
        "size": params.get("size"),
    }


def _record(stored: Any, index: int, revised_prompt: str | None) -> Json:
    return {**stored.model_dump(mode="json"), "index": index, "revised_prompt": revised_prompt}


async def _store_b64(payload: Json, index: int, image: GeneratedImage) -> Json:
    assert image.b64_json is not None
    try:
        data = base64.b64decode(image.b64_json, validate=True)
    except (binascii.Error, ValueError):
        raise ImageApiError(
            ErrorCode.OPERATION_FAILED, "the image service returned invalid base64 data"
        ) from None
    fmt = sniff(data[:MAGIC_BYTES_NEEDED])
    ext = fmt.ext if fmt is not None else "bin"  # save_bytes refuses non-images anyway
    store = runtime().store
    name = store.blob_name(
        payload["job_id"], datetime.fromisoformat(payload["created"]), index, ext
    )
    stored = await store.save_bytes(name, data, _metadata(payload, image.revised_prompt))
    return _record(stored, index, image.revised_prompt)


async def generate_images(payload: Json) -> Json:
    """Generate; store base64 images at once, hand URL images back for `persist_image`.

    Input: {job_id, model, created, deployment, params, first_index}.
    Ok: {"images": [stored image + index + revised_prompt],
         "sources": [{index, url, revised_prompt}]}.
    """
    try:
        rt = runtime()
        deployment = Deployment.model_validate(payload["deployment"])
        params = GenerationParams.model_validate(payload["params"])
        images = await rt.client(deployment).generate(params)
        first = int(payload.get("first_index", 0))
        stored: list[Json] = []
        sources: list[Json] = []
        for offset, image in enumerate(images[: params.n]):
            index = first + offset
            if image.b64_json:
                stored.append(await _store_b64(payload, index, image))
            else:
                sources.append(
                    {"index": index, "url": image.url, "revised_prompt": image.revised_prompt}
                )
        return {"outcome": "ok", "images": stored, "sources": sources}
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(GENERATE, exc)


async def persist_image(payload: Json) -> Json:
    """Copy one generated image from the service's URL into our container.

    Input: {job_id, model, created, prompt, index, url, revised_prompt}. Ok: {"image": {...}}.
    """
    try:
        rt = runtime()
        index = int(payload["index"])
        revised = payload.get("revised_prompt")
        name = rt.store.blob_name(
            payload["job_id"], datetime.fromisoformat(payload["created"]), index, "png"
        )
        stored = await rt.store.copy_from_url(
            payload["url"], name, _metadata(payload, revised), rt.http, rt.policy
        )
        return {"outcome": "ok", "image": _record(stored, index, revised)}
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(PERSIST, exc)


async def submit_operation(payload: Json) -> Json:
    """DALL-E 2: start an operation. Input: {deployment, params}. Ok: {"operation_url"}."""
    try:
        deployment = Deployment.model_validate(payload["deployment"])
        params = GenerationParams.model_validate(payload["params"])
        url = await runtime().client(deployment).submit(params)
        return {"outcome": "ok", "operation_url": url}
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(SUBMIT, exc)


def _learn(deployment: str, elapsed_s: float) -> None:
    previous = _typical_s[deployment]
    _typical_s[deployment] = (
        elapsed_s if previous is None else (1 - EWMA_WEIGHT) * previous + EWMA_WEIGHT * elapsed_s
    )


async def poll_operation(payload: Json) -> Json:
    """DALL-E 2: poll once. Input: {deployment, operation_url, elapsed_s}.

    Ok: {"status", "retry_after", "expected_s", "sources" (when succeeded), "error" (when failed)}.
    """
    try:
        deployment = Deployment.model_validate(payload["deployment"])
        state = await runtime().client(deployment).get_operation(payload["operation_url"])
        result: Json = {
            "outcome": "ok",
            "status": state.status.value,
            "retry_after": state.retry_after_s,
        }
        if state.status is OperationStatus.SUCCEEDED:
            _learn(deployment.name, float(payload.get("elapsed_s") or 0.0))
            result["sources"] = [
                {"index": i, "url": image.url, "revised_prompt": image.revised_prompt}
                for i, image in enumerate(state.images)
                if image.url
            ]
        if state.error is not None:
            result["error"] = {"code": state.error.code.value, "message": state.error.message}
        result["expected_s"] = _typical_s[deployment.name]
        return result
    except ImageApiError as exc:
        return _failure(exc)
    except Exception as exc:
        return _crash(POLL, exc)


async def delete_operation(payload: Json) -> Json:
    """DALL-E 2: delete a finished operation. Best effort: always "ok", with `deleted`."""
    try:
        deployment = Deployment.model_validate(payload["deployment"])
        await runtime().client(deployment).delete_operation(payload["operation_url"])
        return {"outcome": "ok", "deleted": True}
    except ImageApiError as exc:
        return {"outcome": "ok", "deleted": False, "code": exc.code.value, "message": exc.message}
    except Exception as exc:
        log.warning("deleting the operation failed: %s", type(exc).__name__)
        return {"outcome": "ok", "deleted": False, "code": type(exc).__name__}
