"""Completion notifications: callbacks (Power Automate "HTTP Webhook") and a results queue.

Public surface:

- :data:`CallbackUrl` — the pydantic type of a request's ``callback_url`` (https only, see
  ``CALLBACK_ALLOW_HTTP_HOSTS``).
- :func:`notify_completion` — ``yield from`` it at the end of the orchestrator.
- :data:`notify_bp` — the blueprint with the two activities; register it in function_app.py.
- :func:`results_queue_name` — the results queue for a job accepted now (None: off); starters put
  it in the job's input.
"""

from shared.notify.activities import bp as notify_bp
from shared.notify.activities import results_queue_name
from shared.notify.callback import CallbackUrl, callback_url_problem, redact_url
from shared.notify.orchestration import DEFAULT_POLICY, NotifyPolicy, notify_completion

__all__ = [
    "DEFAULT_POLICY",
    "CallbackUrl",
    "NotifyPolicy",
    "callback_url_problem",
    "notify_bp",
    "notify_completion",
    "redact_url",
    "results_queue_name",
]
