"""Completion notifications: callbacks (Power Automate "HTTP Webhook") and a results queue.

- `shared.notify.urls.CallbackUrl` — the pydantic type of a request's ``callback_url`` (https
  only, see ``CALLBACK_ALLOW_HTTP_HOSTS``); `callback_url_problem`, `redact_url`.
- `shared.notify.orchestration.notify_completion` — ``yield from`` it at the end of the
  orchestrator.
- `shared.notify.activities.bp` — the activities' blueprint; function_app.py registers it.

Nothing is re-exported here: Python runs this file whenever a submodule is imported, and the
activities' module must register its triggers without loading pydantic (a cold start pays for
every import, see bench `coldstart`).
"""
