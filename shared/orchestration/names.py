"""The names the orchestrator and its activities are registered and scheduled by.

Pure strings, no imports: function_app.py registers every trigger under these names with only
azure.functions / azure.durable_functions loaded, so a cold start does not pay for the contract
models (pydantic) before the first call. shared/orchestration/contracts.py re-exports them.
"""

from __future__ import annotations

ORCHESTRATOR = "image_job"

GENERATE = "generate_images"
PERSIST = "persist_image"
SUBMIT = "submit_operation"
POLL = "poll_operation"
DELETE = "delete_operation"
CALLBACK = "notify_callback"
RESULTS_QUEUE = "notify_results_queue"
DISCARD = "discard_job_blobs"

# The external event that cancels a job (raised by `DELETE /api/images/{id}`, payload
# `{"reason": "..."}`): see shared/orchestration/calls.py (`JobRun.race`).
CANCEL_EVENT = "cancel"

__all__ = [
    "CALLBACK",
    "CANCEL_EVENT",
    "DELETE",
    "DISCARD",
    "GENERATE",
    "ORCHESTRATOR",
    "PERSIST",
    "POLL",
    "RESULTS_QUEUE",
    "SUBMIT",
]
