"""The orchestration input of a new job: one builder for every way a job starts (HTTP, queue),
so a job started from a queue message is the same job an HTTP call would have started."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shared.imaging.types import deployment_streams
from shared.models import EditJob, ImageRequest, JobInput, ValidatedRequest
from shared.settings import Settings

if TYPE_CHECKING:  # the queue trigger imports this module: it starts no edits
    from shared.edit_requests import EditRequest


def new_job_input(
    job_id: str,
    request: ImageRequest | EditRequest,
    valid: ValidatedRequest,
    settings: Settings,
    created: datetime,
    edit: EditJob | None = None,
) -> JobInput:
    """Raises pydantic's ValidationError (a ValueError) only for a request no retry can fix;
    the queue trigger poisons the message on it instead of retrying."""
    return JobInput(
        id=job_id,
        model=valid.deployment.name,
        deployment=valid.deployment,
        params=valid.params,
        created=created.isoformat(),
        deadline_seconds=settings.image_job_deadline_seconds,
        max_attempts=settings.image_max_attempts,
        callback_url=request.callback_url,
        results_queue=settings.results_queue,
        edit=edit,
        partial_images=partial_images_for(valid, settings.image_partial_images),
    )


def partial_images_for(valid: ValidatedRequest, setting: int) -> int:
    """How many partial images the job asks the service to stream (its previews): the setting,
    for a one-image job on a deployment that streams (`deployment_streams`: model, platform and
    api-version); else 0. A multi-image job does not stream: the events carry no image index,
    and the service's behaviour with n > 1 is not documented."""
    if valid.params.n != 1 or not deployment_streams(valid.deployment):
        return 0
    return setting
