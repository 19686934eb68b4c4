"""The notification activities: the only place notifications do I/O.

Register ``bp`` in function_app.py (``app.register_functions(notify_bp)``); the orchestrator
reaches these through :func:`shared.notify.orchestration.notify_completion`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df

from shared.blueprints.registration import activity
from shared.orchestration.names import CALLBACK, RESULTS_QUEUE

# The contracts (pydantic), settings, HTTP transport and queue clients (azure-core) are imported
# on the first call: function_app.py imports this module on every cold start, only to register.

log = logging.getLogger(__name__)
bp = df.Blueprint()


@activity(bp, CALLBACK)
async def notify_callback(payload: dict[str, Any]) -> dict[str, Any]:
    """POST the completion payload to the job's callback URL, once; report what happened."""
    from shared.notify.callback import post_callback
    from shared.notify.payload import completion_payload
    from shared.notify.urls import redact_url
    from shared.orchestration.contracts import CallbackInput, Delivery, dump
    from shared.settings import get_settings

    request = CallbackInput.model_validate(payload)
    settings = get_settings()
    signature = settings.link_signer.sign(request.job_id, datetime.now(UTC))
    body = completion_payload(request.job_id, request.result, signature, settings.public_base_url)
    sent = await post_callback(
        request.url,
        body,
        job_id=request.job_id,
        attempt=request.attempt,
        http_hosts=settings.callback_allow_http_hosts,
    )
    outcome = Delivery.model_validate(sent)
    log.info(
        "job %s callback to %s attempt %s: %s",
        request.job_id,
        redact_url(request.url),
        request.attempt,
        "delivered" if outcome.delivered else outcome.reason,
    )
    return dump(outcome)


@activity(bp, RESULTS_QUEUE)
async def notify_results_queue(payload: dict[str, Any]) -> dict[str, Any]:
    """Put the completion payload on the results queue (base64, as a queue trigger reads it)."""
    from azure.core.exceptions import AzureError

    from shared.notify.payload import completion_payload
    from shared.notify.queues import QueueConnectionError, queue_client, send_text
    from shared.orchestration.contracts import Delivery, ResultsQueueInput, dump
    from shared.settings import get_settings

    request = ResultsQueueInput.model_validate(payload)
    settings = get_settings()
    signature = settings.link_signer.sign(request.job_id, datetime.now(UTC))
    body = completion_payload(request.job_id, request.result, signature, settings.public_base_url)
    try:
        async with queue_client(request.queue, settings) as client:
            message_id = await send_text(client, json.dumps(body, separators=(",", ":")))
    except (AzureError, QueueConnectionError) as exc:
        # The type only: an AzureError's text can carry the account's endpoint and request ids.
        log.warning(
            "job %s: publishing to queue %s failed: %s",
            request.job_id,
            request.queue,
            type(exc).__name__,
        )
        failed = Delivery(
            delivered=False,
            retryable=not isinstance(exc, QueueConnectionError),
            reason=f"results queue unavailable ({type(exc).__name__})",
        )
        return dump(failed)
    log.info("job %s result published to queue %s", request.job_id, request.queue)
    return dump(Delivery(delivered=True, message_id=message_id))
