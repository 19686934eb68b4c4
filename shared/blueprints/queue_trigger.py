"""Start image jobs from a Storage queue (batch jobs), exactly as ``POST /api/images`` would.

The message is the HTTP body (validated by the same model and the same per-model rules) plus an
optional ``id``. The job's instance id is that ``id`` or, without one, derived from the queue
message id, and an existing instance is never started again: a redelivered message (worker crash,
lease lost) costs no second generation.

A message that can never succeed (not JSON, fails validation, bad ``id``) is put AT ONCE on
``{queue}-poison`` as ``{"reason", "error", "original", ...}`` (base64, as the host frames
messages) and the function returns normally, so the host deletes the original instead of retrying
it five times and poisoning it without a reason. Failures that are not the message's fault (Storage
or the Durable backend down, broken settings) raise, and the host retries as usual.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import azure.durable_functions as df
import azure.functions as func

from shared.ids import JOB_ID_RULE, is_job_id
from shared.orchestration.names import ORCHESTRATOR

if TYPE_CHECKING:
    from shared.settings import Settings

# The models (pydantic) and settings are imported inside the functions, on the first message:
# function_app.py imports this module on every cold start, only to register the trigger.

QUEUE_SETTING = "IMAGE_REQUESTS_QUEUE"
FUNCTION_NAME = "image_requests_queue"
ORIGINAL_MAX_CHARS = 32_000  # the poison envelope must stay under the 64 KiB message limit

log = logging.getLogger(__name__)
bp = df.Blueprint()


@dataclass(frozen=True)
class QueueOutcome:
    """What one message led to (logged; returned for tests)."""

    action: Literal["started", "duplicate", "poisoned"]
    instance_id: str | None = None
    reason: str | None = None


class PoisonMessage(Exception):
    """The message can never succeed: it goes to the poison queue with this reason."""

    def __init__(self, reason: str, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.error: dict[str, Any] = {"code": code, "message": message}
        if field is not None:
            self.error["field"] = field


def job_id_for(message_id: str, explicit: Any) -> str:
    """The instance id: the message's own ``id``, else one derived from the queue message id."""
    if explicit is None:
        return f"q-{message_id}"
    if not is_job_id(explicit):
        raise PoisonMessage("invalid_id", "invalid_request", f"id must be {JOB_ID_RULE}", "id")
    return str(explicit)


def parse_message(body: bytes, message_id: str, settings: Settings) -> tuple[str, Any]:
    """Message bytes → (instance id, validated request), or PoisonMessage naming the problem."""
    from shared.models import RequestError, parse_body, validate_request

    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PoisonMessage(
            "not_json", "invalid_request", "the message is not valid JSON"
        ) from None
    if not isinstance(data, dict):
        raise PoisonMessage("not_json", "invalid_request", "the message must be a JSON object")
    job_id = job_id_for(message_id, data.pop("id", None))
    try:
        request = parse_body(
            json.dumps(data).encode("utf-8"),
            callback_http_hosts=settings.callback_allow_http_hosts,
        )
        validated = validate_request(request, settings.image_models, settings.image_default_model)
    except RequestError as exc:
        raise PoisonMessage("validation_failed", exc.code, exc.message, exc.field) from None
    return job_id, (request, validated)


def job_input(job_id: str, parsed: Any, settings: Settings, now: datetime) -> dict[str, Any]:
    """The orchestration input, as the HTTP starter builds it."""
    from shared.blueprints.jobs import new_job_input

    request, validated = parsed
    return new_job_input(job_id, request, validated, settings, now).model_dump(mode="json")


def poison_envelope(
    exc: PoisonMessage, msg: func.QueueMessage, queue: str, now: datetime
) -> dict[str, Any]:
    original = msg.get_body().decode("utf-8", errors="replace")
    envelope: dict[str, Any] = {
        "reason": exc.reason,
        "error": exc.error,
        "queue": queue,
        "message_id": msg.id,
        "dequeue_count": getattr(msg, "dequeue_count", None),
        "rejected_at": now.isoformat(),
        "original": original[:ORIGINAL_MAX_CHARS],
    }
    if len(original) > ORIGINAL_MAX_CHARS:
        envelope["original_truncated"] = True
    return envelope


async def handle_message(
    msg: func.QueueMessage,
    client: df.DurableOrchestrationClient,
    *,
    settings: Settings | None = None,
    queue: str | None = None,
) -> QueueOutcome:
    """Validate, de-duplicate and start one job; poison what can never succeed."""
    # This worker most likely replays the job it starts at once: load the orchestrator's body
    # now, so its first episode (the job's first progress) is not late by the imports.
    import shared.orchestration.image_job  # noqa: F401
    from shared.settings import get_settings

    settings = settings or get_settings()  # broken settings: raise, the host retries
    queue = queue or settings.image_requests_queue
    now = datetime.now(UTC)
    try:
        job_id, parsed = parse_message(msg.get_body(), str(msg.id), settings)
    except PoisonMessage as exc:
        # azure-storage-queue loads with the first poison message, not with the worker.
        from shared.notify.queues import queue_client, send_text

        envelope = poison_envelope(exc, msg, queue, now)
        async with queue_client(f"{queue}-poison", settings) as poison:
            await send_text(poison, json.dumps(envelope, separators=(",", ":")))
        log.warning(
            "queue message %s rejected (%s: %s); moved to %s-poison",
            msg.id,
            exc.reason,
            exc.error["message"],
            queue,
        )
        return QueueOutcome("poisoned", reason=exc.reason)

    existing = await client.get_status(job_id)
    if existing is not None and existing.runtime_status is not None:
        log.info(
            "queue message %s: job %s already exists (%s); not starting it again",
            msg.id,
            job_id,
            existing.runtime_status.name,
        )
        return QueueOutcome("duplicate", instance_id=job_id)
    await client.start_new(ORCHESTRATOR, job_id, job_input(job_id, parsed, settings, now))
    log.info("queue message %s started job %s", msg.id, job_id)
    return QueueOutcome("started", instance_id=job_id)


@bp.function_name(FUNCTION_NAME)
@bp.queue_trigger(arg_name="msg", queue_name=f"%{QUEUE_SETTING}%", connection="AzureWebJobsStorage")
@bp.durable_client_input(client_name="client")
async def image_requests_queue(
    msg: func.QueueMessage, client: df.DurableOrchestrationClient
) -> None:
    await handle_message(msg, client)
