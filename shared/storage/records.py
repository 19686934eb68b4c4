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
