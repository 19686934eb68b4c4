"""Where an image lives in the container: `{yyyy}/{mm}/{dd}/{job_id}/{index}.{ext}`.

Deterministic from the job, so re-running an activity overwrites rather than duplicates, and a
day's images list with one prefix.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from shared.ids import is_job_id

_SAFE_EXT = re.compile(r"^[a-z0-9]{1,8}$")
_BATCH = re.compile(r"^[a-z0-9]{1,32}$")


def _safe_ext(ext: str) -> str:
    ext = ext.lower().lstrip(".")
    if not _SAFE_EXT.match(ext):
        raise ValueError(f"bad extension: {ext!r}")
    return ext


def job_folder(job_id: str, created: datetime) -> str:
    """`{yyyy}/{mm}/{dd}/{job_id}`: where everything of one job lives."""
    if not is_job_id(job_id):  # the one job-id rule: no '/', '.', or '..' can reach a name
        raise ValueError(f"job id not usable in a blob name: {job_id!r}")
    when = created.astimezone(UTC) if created.tzinfo else created
    return f"{when:%Y}/{when:%m}/{when:%d}/{job_id}"


def cancel_marker_name(job_id: str, created: datetime) -> str:
    """`{folder}/canceled`: written by `DELETE /api/images/{id}` before it raises the cancel
    event, read by the billed activities before they call the service (a cancel delivered in
    the same batch as the event that schedules them must not buy an image). No extension: it
    cannot be taken for an image or an input; the job's discard removes it with the rest."""
    return f"{job_folder(job_id, created)}/canceled"


def input_blob_name(
    job_id: str, created: datetime, batch: str, field_index: int | None, ext: str
) -> str:
    """An edit's staged input: `{folder}/inputs/{batch}/{i}.{ext}`, the mask (None)
    `.../mask.png`. `batch` is the staging request's own nonce: two concurrent requests with one
    Idempotency-Key (one job id) stage apart, so the loser can never overwrite the inputs of the
    job that started. The `inputs/` folder cannot collide with an image (`{index}.{ext}`) or a
    receipt."""
    ext = _safe_ext(ext)
    if not _BATCH.match(batch):
        raise ValueError(f"bad staging batch: {batch!r}")
    if field_index is not None and field_index < 0:
        raise ValueError("index must be >= 0")
    stem = "mask" if field_index is None else str(field_index)
    return f"{job_folder(job_id, created)}/inputs/{batch}/{stem}.{ext}"


def blob_name(job_id: str, created: datetime, index: int, ext: str) -> str:
    """The blob name of image `index` of job `job_id` created at `created` (UTC date parts)."""
    folder = job_folder(job_id, created)
    ext = _safe_ext(ext)
    if index < 0:
        raise ValueError("index must be >= 0")
    return f"{folder}/{index}.{ext}"


# The most previews one job has (one per image: n is at most 10 for any model) — what a listing
# reads and a clean-up deletes at most; and the metadata key of a preview's frame number.
PREVIEWS_MAX = 16
PREVIEW_FRAME_KEY = "frame"


def previews_prefix(job_id: str, created: datetime) -> str:
    """`{folder}/previews/`: the job's partial images (a folder prefix, for one listing)."""
    return f"{job_folder(job_id, created)}/previews/"


def preview_blob_name(job_id: str, created: datetime, index: int, ext: str) -> str:
    """`{folder}/previews/{index}.{ext}`: the latest partial image of image `index`, overwritten
    by each newer frame and deleted once the image is stored. The `previews/` folder cannot
    collide with an image (`{index}.{ext}`), a receipt or an edit's inputs."""
    ext = _safe_ext(ext)
    if index < 0:
        raise ValueError("index must be >= 0")
    return f"{previews_prefix(job_id, created)}{index}.{ext}"
