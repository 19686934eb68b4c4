"""What the app knows about one stored image: the record every layer passes on.

The store returns it when a blob is committed, activities hand it back through history, the job's
output keeps it and the status route adds a fresh SAS URL on read (`ImageView`). One model for all
of them, so a fact the store learns (the dimensions, the revised prompt) cannot be dropped by a
copy that forgot a field. Small and JSON-only: it travels through Durable history.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ImageRecord(BaseModel):
    """One stored image: its blob name and facts, never bytes or a signed URL."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    blob: str
    content_type: str
    bytes: int
    width: int | None = None
    height: int | None = None
    revised_prompt: str | None = None


class InputRecord(BaseModel):
    """One input of an edit, as staged under the job's folder before the job started: its blob
    and facts, where it came from (`source`, and `ref`: a job and index, a blob name, or a URL
    without its query string, which may be a signature), and its SHA-256, so a result says
    exactly which bytes the edit used. Small and JSON-only: the job's input and result carry it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str  # images[i] | mask
    blob: str
    content_type: str
    bytes: int
    width: int
    height: int
    sha256: str
    source: str  # upload | b64_json | url | blob | job
    ref: str | None = None
