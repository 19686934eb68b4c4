"""What the cancel and list routes answer (`DELETE /api/images/{id}`, `GET /api/images`).

Typed here, at the boundary, so the OpenAPI document and the Power Platform connector are built
from the same models the routes serialize.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from shared import job_list


class CancelAccepted(BaseModel):
    """`202` for `DELETE /api/images/{id}`: the cancel is in effect. ``canceling`` while the job
    winds down (a generation already sent is awaited, then everything it stored is removed),
    ``canceled`` once it has; a repeated DELETE answers the same. No ``Location``: a Power
    Automate HTTP action ends on this answer instead of polling into the canceled job's 422."""

    id: str
    status: Literal["canceling", "canceled"]
    statusQueryGetUri: str = Field(description="The job's signed status link (no key needed).")


class JobSummary(job_list.JobSummary):
    """One job in `GET /api/images`: enough for a gallery row or a support look-up."""

    statusQueryGetUri: str = Field(description="The job's signed status link (no key needed).")


class JobList(BaseModel):
    """`GET /api/images`: newest first. ``nextLink`` (the same query with the next
    ``continuationToken``; needs the function key, like this route) is there while more jobs
    are; Power Platform connectors page through it (``x-ms-pageable``)."""

    value: list[JobSummary]
    continuationToken: str | None = None
    nextLink: str | None = None
