"""Every message that crosses the boundary between the orchestrators and their activities.

History is the only channel between an orchestrator and its activities, and it is JSON: whatever
one side writes, the other reads back, possibly in another process, after a crash, by a newer
worker. So each activity has one input model and one result, and both sides use them — the
orchestrator builds and reads nothing else, the activity validates its input with them — so a
renamed field breaks a test instead of every job in production.

An image activity answers one of three outcomes (`ActivityResult`):

    Ok[P]   {"outcome": "ok", "value": P}                         the payload P of that activity
    Retry   {"outcome": "retry", "code", "message", "retry_after"}  throttled / unavailable
    Failed  {"outcome": "error", "code", "message"}               terminal (content filter, 400, …)

and never raises for an image-API failure or sleeps: the orchestrator decides, on a durable timer,
whether and when to try again (shared/orchestration/calls.py). Notifications answer a `Delivery`.
Everything here is small and carries no image bytes and no signed URL — neither ours nor the
service's: an image the generating activity could not store goes back by its index only, and
`persist_image` finds its URL or staged blocks in the generation's receipt
(shared/storage/receipts.py), or, for DALL-E 2, asks the operation for it again.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from shared.imaging.types import MAX_PARTIAL_IMAGES, EditInputs, GenerationParams
from shared.orchestration.names import (
    CALLBACK,
    DELETE,
    DISCARD,
    GENERATE,
    PERSIST,
    POLL,
    RESULTS_QUEUE,
    SUBMIT,
)
from shared.storage.records import ImageRecord


class _Message(BaseModel):
    """A history message: immutable, and unknown fields are a bug, not something to ignore."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# ---- inputs -----------------------------------------------------------------------------------


class JobBlobs(_Message):
    """What a storing activity needs to name and tag the job's blobs (the deployment is
    resolved from `model` by the activity, so history does not repeat it)."""

    job_id: str
    model: str
    created: str  # ISO-8601, when the job was accepted: the blob names' date folder


class _Described(JobBlobs):
    """A storing input that carries the prompt and size itself (it has no `params`)."""

    prompt: str
    size: str | None = None

    @property
    def described(self) -> tuple[str, str | None]:
        """(prompt, size) for the blobs' metadata."""
        return self.prompt, self.size


class GenerateInput(JobBlobs):
    """One call to a synchronous image API; the images get indexes from `first_index` on. The
    prompt is in `params` only: history does not carry it twice."""

    params: GenerationParams
    first_index: int = Field(default=0, ge=0)
    edit: EditInputs | None = None  # an edit: its staged inputs, by blob name
    # Partial images to stream into the job's preview blobs (0: none; the default keeps the
    # histories of jobs started before previews replaying).
    partial_images: int = Field(default=0, ge=0, le=MAX_PARTIAL_IMAGES)

    @property
    def described(self) -> tuple[str, str | None]:
        """(prompt, size) for the blobs' metadata."""
        return self.params.prompt, self.params.size


class PersistInput(_Described):
    """Store one image the generating (or succeeded-poll) activity could not store.

    Where the image is, without a signed URL in history: `first_index` names the receipt of a
    synchronous generation (its `first_index`: the image's URL or staged blocks are in it), and
    `operation_url` a DALL-E 2 operation (not signed: the service's operation endpoint, which
    history holds anyway), polled once for a fresh image URL. Exactly one of the two.

    `final`: if this attempt answers "retry" the orchestrator gives up (attempts or deadline), so
    the activity drops the image's URL/blocks from the receipt then, not leave them behind.
    `partial_images`: the job streams previews (the generation's `partial_images`), which the
    activity deletes once the image is stored; absent (0) for any other job, and in histories
    from before previews, so no other job's persist deletes anything."""

    index: int = Field(ge=0)
    first_index: int | None = Field(default=None, ge=0)
    operation_url: str | None = None
    final: bool | None = None  # None, not False: history carries no field it does not need
    partial_images: int | None = Field(default=None, ge=1, le=MAX_PARTIAL_IMAGES)  # None: 0

    @model_validator(mode="after")
    def _one_place(self) -> PersistInput:
        if (self.first_index is None) == (self.operation_url is None):
            raise ValueError("persist_image needs exactly one of first_index and operation_url")
        return self


class SubmitInput(_Message):
    """DALL-E 2 / BFL: start an operation (BFL: an edit too, with its staged inputs)."""

    model: str
    params: GenerationParams
    edit: EditInputs | None = None
    # where the job's cancel marker is (shared/storage/naming.py `cancel_marker_name`)
    job_id: str | None = None
    created: str | None = None


class PollInput(_Described):
    """DALL-E 2: poll once, and store the images when the operation has succeeded.

    `elapsed_s` is when this poll is made (seconds after the submit, orchestrator time) and
    `running_until_s` when the last poll that saw the operation queued or running was: the
    bounds from which the activity learns the deployment's operation time."""

    operation_url: str
    n: int = Field(ge=1)
    elapsed_s: float = Field(ge=0)
    running_until_s: float = Field(ge=0)


class DeleteInput(_Message):
    """DALL-E 2: delete a finished operation (best effort)."""

    model: str
    operation_url: str


class DiscardInput(_Message):
    """A canceled job: delete every blob in its folder `{yyyy}/{mm}/{dd}/{job}/` — its images,
    its edit's staged inputs and its receipts (shared/storage/naming.py, receipts.py)."""

    job_id: str
    created: str  # ISO-8601, when the job was accepted: the folder's date
    # only the folder's previews (a streaming job that ends with preview blobs left over)
    previews_only: bool | None = None


class NotifyInput(_Message):
    """One delivery attempt of a job's completion: to a callback URL or onto a results queue."""

    job_id: str
    result: dict[str, Any]  # the job's output (JobOutput as JSON)
    attempt: int = Field(default=1, ge=1)


class CallbackInput(NotifyInput):
    url: str


class ResultsQueueInput(NotifyInput):
    queue: str


# ---- results ------------------------------------------------------------------------------------


class IndexedImage(ImageRecord):
    """A stored image and its place in the job's list."""

    index: int = Field(ge=0)

    def record(self) -> ImageRecord:
        return ImageRecord.model_validate(self.model_dump(exclude={"index"}))


class ImageSource(_Message):
    """A generated image the activity could not store, by index only: `persist_image` finds it
    from there (the receipt, or the DALL-E 2 operation), so no signed URL enters history."""

    index: int = Field(ge=0)


class Generated(_Message):
    """What the generating (or succeeded-poll) activity stored, and what it could not."""

    images: list[IndexedImage] = Field(default_factory=list)
    sources: list[ImageSource] = Field(default_factory=list)
    # a streaming call whose preview blobs could not be deleted (None, not False: absent from
    # every other answer): the orchestrator deletes them before the job ends
    previews_left: bool | None = None


class Persisted(_Message):
    image: IndexedImage


class Submitted(_Message):
    operation_url: str
    expected_s: float | None = None  # the deployment's learnt operation time, paces the polls


OperationStatusName = Literal["notRunning", "running", "succeeded", "failed", "canceled", "deleted"]


class OperationError(_Message):
    code: str
    message: str


class Polled(Generated):
    """One poll's answer; `images`/`sources` are filled once the operation has succeeded."""

    status: OperationStatusName
    retry_after: float | None = None  # the service's own pacing hint
    expected_s: float | None = None  # None: this worker has learnt nothing yet
    error: OperationError | None = None


class Deleted(_Message):
    deleted: bool
    code: str | None = None
    message: str | None = None


class Discarded(_Message):
    """What one discard call deleted; `more`: blobs may be left (a bounded listing, or blobs
    that could not be deleted), so the orchestrator may call again."""

    deleted: int = Field(ge=0)
    more: bool | None = None  # None, not False: history carries no field it does not need


P = TypeVar("P", bound=BaseModel)


class Ok(_Message, Generic[P]):
    outcome: Literal["ok"] = "ok"
    value: P


class Retry(_Message):
    """Try again later: `retry_after` is the service's hint (None: back off on our own)."""

    outcome: Literal["retry"] = "retry"
    code: str
    message: str
    retry_after: float | None = None

    @property
    def throttled(self) -> bool:
        """A 429 with a Retry-After: the quota's "your turn comes later", bounded by the
        deadline, not a failure (see shared/orchestration/retry.py)."""
        return self.code == "throttled" and self.retry_after is not None


class Failed(_Message):
    outcome: Literal["error"] = "error"
    code: str
    message: str


ActivityResult = Ok[P] | Retry | Failed


@cache
def _adapter(payload: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(
        Annotated[Ok[payload] | Retry | Failed, Field(discriminator="outcome")]  # type: ignore[valid-type, arg-type]
    )


def read_result(payload: type[P], raw: Any) -> Ok[P] | Retry | Failed:
    """An activity's answer from history, validated against that activity's payload type."""
    result: Ok[P] | Retry | Failed = _adapter(payload).validate_python(raw)
    return result


def ok(value: BaseModel) -> dict[str, Any]:
    """An activity's success answer, as it goes into history."""
    return {"outcome": "ok", "value": dump(value)}


def dump(message: BaseModel) -> dict[str, Any]:
    """Any message as it goes into history: this module's, and the job's customStatus and
    output (no nulls: history stays small)."""
    return message.model_dump(mode="json", exclude_none=True)


class Delivery(_Message):
    """What one notification attempt did. Never an exception text: a short reason only."""

    delivered: bool
    retryable: bool = False
    http_status: int | None = None
    retry_after_s: float | None = None
    reason: str | None = None
    message_id: str | None = None


# Each activity's input model and the payload of its `Ok` (None: notifications answer a
# `Delivery`). Test doubles of the activities validate what they are sent, and answer, with it.
ACTIVITIES: dict[str, tuple[type[_Message], type[BaseModel] | None]] = {
    GENERATE: (GenerateInput, Generated),
    PERSIST: (PersistInput, Persisted),
    SUBMIT: (SubmitInput, Submitted),
    POLL: (PollInput, Polled),
    DELETE: (DeleteInput, Deleted),
    DISCARD: (DiscardInput, Discarded),
    CALLBACK: (CallbackInput, None),
    RESULTS_QUEUE: (ResultsQueueInput, None),
}


def check_answer(activity: str, raw: Any) -> None:
    """Raise ValidationError unless `raw` is what `activity` may answer."""
    payload = ACTIVITIES[activity][1]
    if payload is None:
        Delivery.model_validate(raw)
    else:
        read_result(payload, raw)
