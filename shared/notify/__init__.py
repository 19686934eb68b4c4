"""Completion notifications: callbacks (Power Automate "HTTP Webhook") and a results queue.

Pure names only (importing this package loads no blueprint, queue client or HTTP transport):

- :data:`CallbackUrl` — the pydantic type of a request's ``callback_url`` (https only, see
  ``CALLBACK_ALLOW_HTTP_HOSTS``).
- :func:`notify_completion` — ``yield from`` it at the end of the orchestrator.

The activities' blueprint is ``shared.notify.activities.bp``; function_app.py registers it.
"""

from shared.notify.orchestration import DEFAULT_POLICY, NotifyPolicy, notify_completion
from shared.notify.urls import CallbackUrl, callback_url_problem, redact_url

__all__ = [
    "DEFAULT_POLICY",
    "CallbackUrl",
    "NotifyPolicy",
    "callback_url_problem",
    "notify_completion",
    "redact_url",
]
