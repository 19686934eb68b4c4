"""Registers the image job's orchestrator; its body is shared/orchestration/image_job.py and its
activities are registered beside their code in shared/blueprints/activities.py."""

from __future__ import annotations

import azure.durable_functions as df

from shared.orchestration.calls import Gen
from shared.orchestration.image_job import ORCHESTRATOR, run_image_job

bp = df.Blueprint()


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR)
def image_job(context: df.DurableOrchestrationContext) -> Gen:
    return (yield from run_image_job(context))


__all__ = ["ORCHESTRATOR", "bp", "run_image_job"]
