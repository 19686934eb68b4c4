"""The notification activities: the only place notifications do I/O.

Register ``bp`` in function_app.py (``app.register_functions(notify_bp)``); the orchestrator
reaches these through :func:`shared.notify.orchestration.notify_completion`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import azure.durable_functions as df
from azure.core.exceptions import AzureError

from shared.notify.callback import post_callback, redact_url
from shared.notify.orchestration import CALLBACK_ACTIVITY, RESULTS_QUEUE_ACTIVITY
from shared.notify.payload import completion_payload, public_base_url
from shared.notify.queues import QueueConnectionError, queue_client, send_text

RESULTS_QUEUE_SETTING = "IMAGE_RESULTS_QUEUE"
RESULTS_QUEUE_ENABLED_SETTING = "IMAGE_RESULTS_QUEUE_ENABLED"
DEFAULT_RESULTS_QUEUE = "image-results"

log = logging.getLogger(__name__)
bp = df.Blueprint()


def results_queue_name(env: Mapping[str, str] | None = None) -> str | None:
    """The results queue for a job accepted now, or None when publishing results is off.

    Read by the starters (HTTP and queue) when they accept a job; the name travels in the job's
    input so the orchestrator never reads settings.
    """
    env = os.environ if env is None else env
    enabled = env.get(RESULTS_QUEUE_ENABLED_SETTING, "").strip().lower()
    if enabled not in ("1", "true", "yes", "on"):
        return None
    return env.get(RESULTS_QUEUE_SETTING, "").strip() or DEFAULT_RESULTS_QUEUE


@bp.activity_trigger(input_name="request", activity=CALLBACK_ACTIVITY)
async def notify_callback(request: dict[str, Any]) -> dict[str, Any]:
    """POST the completion payload to the job's callback URL, once; report what happened."""
    job_id = str(request["job_id"])
    body = completion_payload(job_id, request["result"], public_base_url())
    outcome = await post_callback(
        request["url"], body, job_id=job_id, attempt=int(request.get("attempt", 1))
    )
    log.info(
        "job %s callback to %s attempt %s: %s",
        job_id,
        redact_url(request["url"]),
        request.get("attempt"),
        "delivered" if outcome["delivered"] else outcome["reason"],
    )
    return outcome


@bp.activity_trigger(input_name="request", activity=RESULTS_QUEUE_ACTIVITY)
async def notify_results_queue(request: dict[str, Any]) -> dict[str, Any]:
    """Put the completion payload on the results queue (base64, as a queue trigger reads it)."""
    queue = str(request["queue"])
    job_id = str(request["job_id"])
    body = completion_payload(job_id, request["result"], public_base_url())
    try:
        async with queue_client(queue) as client:
            message_id = await send_text(client, json.dumps(body, separators=(",", ":")))
    except (AzureError, QueueConnectionError) as exc:
        log.warning("job %s: publishing to queue %s failed: %s", job_id, queue, exc)
        return {
            "delivered": False,
            "retryable": not isinstance(exc, QueueConnectionError),
            "reason": f"results queue unavailable ({type(exc).__name__})",
        }
    log.info("job %s result published to queue %s", job_id, queue)
    return {"delivered": True, "retryable": False, "message_id": message_id}
