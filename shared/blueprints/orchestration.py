"""Registers the image job's orchestrator; its body is shared/orchestration/image_job.py and its
activities are registered beside their code in shared/blueprints/activities.py.

The body (and with it the contract models, pydantic) is imported on the first replay, not with
this module: function_app.py imports this on every cold start.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import azure.durable_functions as df

from shared.orchestration.names import ORCHESTRATOR

if TYPE_CHECKING:
    from shared.orchestration.calls import Gen

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)
def image_job(context: df.DurableOrchestrationContext) -> Gen:
    from shared.orchestration.image_job import run_image_job

    return (yield from run_image_job(context))


__all__ = ["ORCHESTRATOR", "bp"]
