"""Start image jobs from a Storage queue (batch jobs), exactly as ``POST /api/images`` would.

The message is the HTTP body (validated by the same model and the same per-model rules) plus an
optional ``id``. The job's instance id is that ``id`` or, without one, derived from the queue
message id, and an existing instance is never started again: a redelivered message (worker crash,
lease lost) costs no second generation.

A message that can never succeed (not UTF-8, not JSON, nested absurdly deep, fails validation, bad
``id``, or a request that cannot become a job) is put AT ONCE on ``{queue}-poison`` as
``{"reason", "error", "original", ...}`` (base64, as the host frames messages) and the function
returns normally, so the host deletes the original instead of retrying it five times and
poisoning it without a reason. Failures that are not the message's fault (Storage or the Durable
backend down, broken settings) raise, and the host retries as usual.

The poison envelope must itself be a message Azure Storage accepts: 64 KiB counted on the stored
text, which is base64 (4 characters per 3 bytes), so at most 48 KiB of UTF-8 JSON. It is measured
exactly that way; an original too large to travel whole is cut (on a character boundary) to fit,
and its byte length and SHA-256 say what it was.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import azure.durable_functions as df
import azure.functions as func

from shared.identity import HOST_STORAGE
from shared.ids import JOB_ID_RULE, is_job_id
from shared.orchestration.names import ORCHESTRATOR

if TYPE_CHECKING:
    from shared.settings import Settings

# The models (pydantic) and settings are imported inside the functions, on the first message:
# function_app.py imports this module on every cold start, only to register the trigger.

QUEUE_SETTING = "IMAGE_REQUESTS_QUEUE"
FUNCTION_NAME = "image_requests_queue"
# The trigger's connection. Its settings (a connection string, or AzureWebJobsStorage__* with
# `__credential` / `__clientId`) are read by the host for the trigger and by Settings for the
# poison queue this module writes, so both reach the account with the same identity.
CONNECTION = HOST_STORAGE
# Azure Storage's limit for one message, counted on the text as stored. The host's queue trigger
# (and shared.notify.queues) store base64, so the usable payload is 3/4 of it: 48 KiB of UTF-8.
MESSAGE_MAX_BYTES = 64 * 1024
PAYLOAD_MAX_BYTES = MESSAGE_MAX_BYTES // 4 * 3
# A request is a flat object (depth 1); anything past this is an attack or a bug, and deep
# enough inputs crash json/pydantic with RecursionError, which no retry can fix.
MAX_NESTING = 32
# Integers longer than this are no count of anything; Python refuses > 4300 digits outright.
MAX_INT_DIGITS = 100
ERROR_TEXT_MAX_CHARS = 500  # error messages may quote the message (unknown field names)
FIELD_MAX_CHARS = 100
BOM = b"\xef\xbb\xbf"

Reason = Literal[
    "not_utf8",
    "not_json",
    "too_deeply_nested",
    "too_large",
    "invalid_id",
    "validation_failed",
]

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

    def __init__(self, reason: Reason, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.error: dict[str, Any] = {"code": code, "message": message}
        if field is not None:
            self.error["field"] = field


class _IntTooLong(ValueError):
    """Raised from inside json.loads (parse_int) for an absurdly long integer."""


def job_id_for(message_id: str, explicit: Any) -> str:
    """The instance id: the message's own ``id``, else one derived from the queue message id.

    Azure's message ids are GUIDs; one that is not (another queue service, a test double) is
    hashed rather than used raw, so the derived id still obeys the one id rule (blob names, URL
    paths, Durable instance ids) and stays the same on every redelivery.
    """
    if explicit is None:
        derived = f"q-{message_id}"
        if is_job_id(derived):
            return derived
        digest = hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()
        return f"q-{digest[:32]}"
    if not is_job_id(explicit):
        raise PoisonMessage("invalid_id", "invalid_request", f"id must be {JOB_ID_RULE}", "id")
    return str(explicit)


def nesting_depth(text: str, limit: int) -> int:
    """How deep arrays/objects nest in JSON ``text``, counting no further than ``limit + 1``.

    A loop, not recursion: it must answer for exactly the inputs that make a recursive parser
    crash. Brackets inside strings do not count.
    """
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif ch in "]}":
            depth = max(0, depth - 1)
    return deepest


def _parse_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise _IntTooLong(digits)
    return int(digits)


def _decode_json(body: bytes) -> Any:
    """Message bytes → JSON value, or PoisonMessage saying which rule the bytes broke."""
    try:
        text = body.removeprefix(BOM).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PoisonMessage(
            "not_utf8",
            "invalid_request",
            f"the message is not UTF-8 text (invalid byte 0x{body[exc.start]:02x} at offset "
            f"{exc.start}); send the JSON encoded as UTF-8 (then base64, as the trigger reads it)",
        ) from None
    if nesting_depth(text, MAX_NESTING) > MAX_NESTING:
        raise PoisonMessage(
            "too_deeply_nested",
            "invalid_request",
            f"the message nests arrays/objects more than {MAX_NESTING} deep; a request is one "
            "flat JSON object",
        )
    try:
        return json.loads(text, parse_int=_parse_int)
    except _IntTooLong:
        raise PoisonMessage(
            "validation_failed",
            "invalid_request",
            f"the message holds an integer of more than {MAX_INT_DIGITS} digits",
        ) from None
    except RecursionError:  # the depth check should make this unreachable; never retry it
        raise PoisonMessage(
            "too_deeply_nested", "invalid_request", "the message nests too deep to parse"
        ) from None
    except ValueError as exc:
        raise PoisonMessage(
            "not_json", "invalid_request", f"the message is not valid JSON ({exc})"
        ) from None


def _not_an_object(data: Any) -> PoisonMessage:
    """The reason for a JSON value that is not an object, spotting JSON encoded twice."""
    if isinstance(data, str):
        try:
            inner = json.loads(data)
        except (ValueError, RecursionError):
            inner = None
        if isinstance(inner, dict):
            return PoisonMessage(
                "not_json",
                "invalid_request",
                "the message must be a JSON object, but it is a JSON string holding one (JSON "
                "encoded twice?); send the object itself",
            )
    kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(data), "a number"
    )
    return PoisonMessage(
        "not_json", "invalid_request", f"the message must be a JSON object, not {kind}"
    )


def parse_message(body: bytes, message_id: str, settings: Settings) -> tuple[str, Any]:
    """Message bytes → (instance id, validated request), or PoisonMessage naming the problem.

    Everything here depends on the message (and settings already loaded) alone, so every error
    it can meet is permanent and is raised as PoisonMessage.
    """
    from shared.models import RequestError, parse_body, validate_request

    data = _decode_json(body)
    if not isinstance(data, dict):
        raise _not_an_object(data)
    job_id = job_id_for(message_id, data.pop("id", None))
    try:
        request = parse_body(
            json.dumps(data).encode("utf-8"),
            callback_http_hosts=settings.callback_allow_http_hosts,
        )
        validated = validate_request(request, settings.image_models, settings.image_default_model)
    except RequestError as exc:
        reason: Reason = "too_large" if exc.code == "body_too_large" else "validation_failed"
        raise PoisonMessage(reason, exc.code, exc.message, exc.field) from None
    except RecursionError:
        raise PoisonMessage(
            "too_deeply_nested", "invalid_request", "the message nests too deep to validate"
        ) from None
    return job_id, (request, validated)


def job_input(job_id: str, parsed: Any, settings: Settings, now: datetime) -> dict[str, Any]:
    """The orchestration input, as the HTTP starter builds it.

    A request that passed validation but still cannot become a job input (a model rule the
    request model does not know, text the Durable backend cannot carry) is the message's fault
    and will not change on a retry: PoisonMessage.
    """
    from shared.blueprints.jobs import new_job_input

    request, validated = parsed
    try:
        data = new_job_input(job_id, request, validated, settings, now).model_dump(mode="json")
        # The Durable client sends the input as UTF-8 JSON: a lone surrogate would fail there,
        # on every retry.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except ValueError as exc:  # pydantic's ValidationError and UnicodeError are ValueErrors
        raise PoisonMessage(
            "validation_failed",
            "invalid_request",
            _clip(f"the request passed validation but cannot start a job: {exc}"),
        ) from None
    return data


def _clip(text: Any, limit: int = ERROR_TEXT_MAX_CHARS) -> str:
    """``text`` as a str of at most ``limit`` characters that is encodable as UTF-8."""
    value = str(text)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def envelope_text(envelope: dict[str, Any]) -> str:
    """The envelope as sent: compact JSON, non-ASCII kept as UTF-8 (``\\uXXXX`` would be 6 bytes
    for what UTF-8 says in 2 or 3)."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":"))


def stored_size(text: str) -> int:
    """Bytes Azure Storage counts for ``text`` sent base64-encoded: what its 64 KiB limit is
    about (the message size is counted on the stored text, not on the characters we hand over)."""
    return (len(text.encode("utf-8")) + 2) // 3 * 4


def poison_envelope(
    exc: PoisonMessage, msg: func.QueueMessage, queue: str, now: datetime
) -> dict[str, Any]:
    """The poison message: why, plus the original, within the size Azure Storage accepts.

    The original is kept as text when it is UTF-8 (``original``), else as base64
    (``original_base64``; bytes decoded with replacement characters would be lost and grow 3-6
    times in JSON). When it does not fit whole, the longest prefix that fits is kept, cut on a
    character (or, for bytes, a byte) boundary, with ``original_truncated``, ``original_bytes``
    and ``original_sha256`` describing the whole.
    """
    body = msg.get_body()
    error = {
        k: _clip(v, FIELD_MAX_CHARS if k == "field" else ERROR_TEXT_MAX_CHARS)
        for k, v in exc.error.items()
    }
    base: dict[str, Any] = {
        "reason": exc.reason,
        "error": error,
        "queue": queue,
        "message_id": None if msg.id is None else _clip(msg.id, FIELD_MAX_CHARS),
        "dequeue_count": getattr(msg, "dequeue_count", None),
        "rejected_at": now.isoformat(),
    }
    try:
        text: str | None = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None

    def with_prefix(n: int, truncated: bool) -> dict[str, Any]:
        envelope = dict(base)
        if text is not None:
            envelope["original"] = text[:n]
        else:
            envelope["original_base64"] = base64.b64encode(body[:n]).decode("ascii")
        if truncated:
            envelope["original_truncated"] = True
            envelope["original_bytes"] = len(body)
            envelope["original_sha256"] = hashlib.sha256(body).hexdigest()
        return envelope

    whole = len(text) if text is not None else len(body)
    envelope = with_prefix(whole, truncated=False)
    if stored_size(envelope_text(envelope)) <= MESSAGE_MAX_BYTES:
        return envelope
    lo, hi = 0, whole  # the longest prefix that fits: size grows with the prefix
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if stored_size(envelope_text(with_prefix(mid, truncated=True))) <= MESSAGE_MAX_BYTES:
            lo = mid
        else:
            hi = mid - 1
    return with_prefix(lo, truncated=True)


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
    # The job's notifications carry signed status links: no secret, no job (raise, retried).
    settings.link_signer  # noqa: B018
    queue = queue or settings.image_requests_queue
    now = datetime.now(UTC)
    try:
        job_id, parsed = parse_message(msg.get_body(), str(msg.id), settings)
        start_input = job_input(job_id, parsed, settings, now)
    except PoisonMessage as exc:
        # azure-storage-queue loads with the first poison message, not with the worker.
        from shared.notify.queues import queue_client, send_text

        text = envelope_text(poison_envelope(exc, msg, queue, now))
        async with queue_client(f"{queue}-poison", settings) as poison:
            await send_text(poison, text)  # Storage down: raise, the host retries
        log.warning(
            "queue message %s rejected (%s: %s); moved to %s-poison",
            msg.id,
            exc.reason,
            exc.error["message"][:ERROR_TEXT_MAX_CHARS],
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
    await client.start_new(ORCHESTRATOR, job_id, start_input)
    log.info("queue message %s started job %s", msg.id, job_id)
    return QueueOutcome("started", instance_id=job_id)


@bp.function_name(FUNCTION_NAME)
@bp.queue_trigger(arg_name="msg", queue_name=f"%{QUEUE_SETTING}%", connection=CONNECTION)
@bp.durable_client_input(client_name="client")
async def image_requests_queue(
    msg: func.QueueMessage, client: df.DurableOrchestrationClient
) -> None:
    await handle_message(msg, client)
