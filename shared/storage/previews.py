"""A streaming job's previews: the latest partial image of each image, in Blob Storage.

While a model that streams works, each partial image it sends is written to
`{folder}/previews/{index}.{ext}` (shared/storage/naming.py), overwriting the previous frame:
through the store's staged-blocks path, so memory stays bounded by its block size and a reader
never sees half a frame (the blob changes only at the commit), with the frame's number in the
metadata (`frame`). The status routes list them and hand out signed links; the generating
activity deletes them once the image is stored.

A preview is a courtesy, the image is what was paid for: a preview write that fails or stalls
is logged and turns its writer into a no-op, and never fails the call that streams it. A call's
writers share one `PreviewBudget`: once its previews have cost that much storage time in all,
every writer stops, so storage that is slow (not failing) cannot stall the stream frame after
frame.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from shared.storage.formats import ImageFormat
from shared.storage.naming import PREVIEW_FRAME_KEY

if TYPE_CHECKING:
    from shared.storage.store import ImageStore, StagedImage

log = logging.getLogger(__name__)

# The longest one storage step of a preview may take (a block staged, a frame committed): the
# stream waits for it, and a billed reply must not stall behind a slow preview.
WRITE_TIMEOUT_S = 15.0
# The most storage time all the previews of one call may cost together (each step waits for
# storage while the billed stream waits for it): past it, the call's previews stop.
CALL_BUDGET_S = 10.0

T = TypeVar("T")


class PreviewBudget:
    """The storage time left to one call's previews, shared by its writers."""

    def __init__(self, seconds: float = CALL_BUDGET_S) -> None:
        self.left = seconds

    @property
    def spent(self) -> bool:
        return self.left <= 0

    def charge(self, seconds: float) -> None:
        self.left -= seconds


class BudgetSpent(Exception):
    """The call's previews have had all the storage time they may have."""


class PreviewWriter:
    """The `PreviewSink` of one image of a streaming reply (shared/imaging/types.py): each frame
    is `write`n in chunks, then published by `finish(frame)`; the next `write` starts the next
    frame. Never raises: the first failure is logged and the writer does nothing after it."""

    def __init__(
        self,
        store: ImageStore,
        name_for: Callable[[ImageFormat], str],
        max_bytes: int,
        *,
        label: str,
        timeout_s: float = WRITE_TIMEOUT_S,
        budget: PreviewBudget | None = None,
    ) -> None:
        self.store = store
        self.max_bytes = max_bytes
        self.label = label  # names the job and image in the log (no URL, no key)
        self.timeout_s = timeout_s
        self.budget = budget or PreviewBudget()
        self.broken = False
        self.frames = 0  # frames published
        self._name_for = name_for
        self._frame: StagedImage | None = None

    @classmethod
    async def open(
        cls,
        store: ImageStore,
        name_for: Callable[[ImageFormat], str],
        max_bytes: int,
        *,
        label: str,
        timeout_s: float = WRITE_TIMEOUT_S,
        budget: PreviewBudget | None = None,
    ) -> PreviewWriter:
        """A writer with the container made sure of (a failure there: a no-op writer)."""
        writer = cls(store, name_for, max_bytes, label=label, timeout_s=timeout_s, budget=budget)
        try:
            await writer._step(store.ensure_container)
        except Exception as exc:  # a preview never fails the billed call
            writer._drop(exc)
        return writer

    async def write(self, chunk: bytes) -> None:
        if self.broken or not chunk:
            return
        from shared.storage.store import StagedImage

        try:
            if self._frame is None:
                self._frame = StagedImage(self.store, self._name_for, self.max_bytes)
            frame = self._frame
            await self._step(lambda: frame.write(chunk))
        except Exception as exc:
            self._drop(exc)

    async def finish(self, frame: int) -> None:
        """Publish the frame written since the last `finish` (its blob replaced at once)."""
        staged, self._frame = self._frame, None
        if self.broken or staged is None:
            return
        try:
            await self._step(lambda: staged.commit({PREVIEW_FRAME_KEY: str(frame)}))
        except Exception as exc:
            self._drop(exc)
            return
        self.frames += 1

    async def abandon(self) -> None:
        """Forget the frame written since the last `finish`: its staged blocks are never
        committed (Blob Storage drops them), the next `write` starts the next frame."""
        self._frame = None

    async def _step(self, step: Callable[[], Awaitable[T]]) -> T:
        """One storage step, within its timeout and what is left of the call's budget, which
        it is charged (failed or not)."""
        if self.budget.spent:
            raise BudgetSpent
        limit = min(self.timeout_s, self.budget.left)
        started = time.monotonic()
        try:
            return await asyncio.wait_for(step(), limit)
        finally:
            self.budget.charge(time.monotonic() - started)

    def _drop(self, exc: Exception) -> None:
        """Log the failure (its type and our own message only: no signed URL) and stop."""
        self.broken = True
        self._frame = None
        from shared.imaging.types import ImageApiError

        if isinstance(exc, ImageApiError):
            reason = exc.message
        elif isinstance(exc, BudgetSpent) or self.budget.spent:
            reason = "the call's previews have used their storage time"
        elif isinstance(exc, TimeoutError):
            reason = "storage too slow"
        else:
            reason = "unexpected"
        log.warning("preview of %s dropped: %s (%s)", self.label, reason, type(exc).__name__)
