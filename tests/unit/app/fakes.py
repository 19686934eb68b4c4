"""Test doubles of the image job's activities that answer like the real ones.

Each reads its input with the activity's contract model and answers with the contract's result
types (shared/orchestration/contracts.py), so a renamed field on either side fails here as it
would in production. Like the real activities, the generating activity and a succeeded poll store
their images themselves (blob names from the job, `{yyyy}/{mm}/{dd}/{job}/{index}.png`) and
hand back as `sources`, by index only, the images whose copy failed (`copy_fails`), for
`persist_image` — which, like the real one, is told where to find the image (the generating
call's `first_index`: its receipt; or the DALL-E 2 operation) and never a URL.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shared.orchestration import contracts as c
from shared.storage.naming import blob_name

OPERATION = "http://127.0.0.1:9/openai/operations/images/op1?api-version=2023-06-01-preview"

Json = dict[str, Any]


def stored_image(job: c.JobBlobs, index: int, revised: str | None = None) -> c.IndexedImage:
    return c.IndexedImage(
        blob=blob_name(job.job_id, datetime.fromisoformat(job.created), index, "png"),
        content_type="image/png",
        bytes=1000 + index,
        width=1024,
        height=1024,
        index=index,
        revised_prompt=revised if revised is not None else f"revised {index}",
    )


def _store(job: c.JobBlobs, indexes: Iterable[int], copy_fails: Iterable[int]) -> c.Generated:
    fails = set(copy_fails)
    images = [stored_image(job, i) for i in indexes if i not in fails]
    sources = [c.ImageSource(index=i) for i in indexes if i in fails]
    return c.Generated(images=images, sources=sources)


def generated(payload: Json, *, copy_fails: Iterable[int] = ()) -> Json:
    """generate_images: the asked images, stored, except those whose URL copy failed."""
    job = c.GenerateInput.model_validate(payload)
    indexes = range(job.first_index, job.first_index + job.params.n)
    return c.ok(_store(job, indexes, copy_fails))


def persisted(payload: Json) -> Json:
    """persist_image: the one image stored, read from where the input says it is (the receipt
    of the call that generated it, or the DALL-E 2 operation) — nothing from history."""
    job = c.PersistInput.model_validate(payload)
    if job.operation_url is not None:
        assert job.operation_url == OPERATION, "persist polled another operation"
    else:
        assert job.first_index is not None
        assert job.first_index <= job.index, "persist read another call's receipt"
    return c.ok(c.Persisted(image=stored_image(job, job.index)))


def submitted(expected_s: float | None = None) -> Json:
    return c.ok(c.Submitted(operation_url=OPERATION, expected_s=expected_s))


def polled(
    payload: Json,
    status: str,
    *,
    retry_after: float | None = None,
    expected_s: float | None = None,
    error: Json | None = None,
    copy_fails: Iterable[int] = (),
) -> Json:
    """poll_operation: the status; once succeeded, the images stored like the real poll does."""
    job = c.PollInput.model_validate(payload)
    assert job.operation_url == OPERATION
    stored = _store(job, range(job.n), copy_fails) if status == "succeeded" else c.Generated()
    answer = c.Polled(
        status=status,  # type: ignore[arg-type]
        retry_after=retry_after,
        expected_s=expected_s,
        error=c.OperationError.model_validate(error) if error else None,
        images=stored.images,
        sources=stored.sources,
    )
    return c.ok(answer)


def deleted() -> Json:
    return c.ok(c.Deleted(deleted=True))


def throttled(after: float | None = 7.0) -> Json:
    return c.dump(c.Retry(code="throttled", message="429", retry_after=after))


def unavailable(after: float | None = None) -> Json:
    return c.dump(c.Retry(code="unavailable", message="503", retry_after=after))


def failed(code: str, message: str) -> Json:
    return c.dump(c.Failed(code=code, message=message))


def delivered(http_status: int = 200) -> Json:
    return c.dump(c.Delivery(delivered=True, http_status=http_status))


def discarded(payload: Json, deleted: int = 3, *, more: bool = False) -> Json:
    """discard_job_blobs: the canceled job's folder emptied (`more`: blobs may be left)."""
    c.DiscardInput.model_validate(payload)
    return c.ok(c.Discarded(deleted=deleted, more=more or None))
