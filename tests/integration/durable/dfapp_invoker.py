"""A minimal FunctionInvoker over a ``df.DFApp``: what the Functions worker does, no more.

Orchestrators are the DFApp-wrapped handles (``Orchestrator.create``) called with
``func.OrchestrationContext``; activities get their input through the worker's own
``ActivityTriggerConverter`` and their result encoded by it; sync activities run in a thread, async
ones on the engine's loop (the durable client session is module-global, one loop only).
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter


class DFAppInvoker:
    def __init__(self, app: df.DFApp) -> None:
        self._orchestrators: dict[str, Any] = {}
        self._activities: dict[str, tuple[Any, str]] = {}
        for fn in app.get_functions():
            trigger = fn.get_trigger()
            kind = str(trigger.get_binding_name()).lower()
            if kind == "orchestrationtrigger":
                self._orchestrators[fn.get_function_name()] = fn.get_user_function()
            elif kind == "activitytrigger":
                self._activities[fn.get_function_name()] = (fn.get_user_function(), trigger.name)

    def orchestrator_names(self) -> set[str]:
        return set(self._orchestrators)

    def activity_names(self) -> set[str]:
        return set(self._activities)

    async def run_orchestrator(self, name: str, context_json: str) -> str:
        handle = self._orchestrators[name]
        result: str = handle(func.OrchestrationContext(context_json))
        return result

    async def run_activity(self, name: str, input_json: str | None) -> str:
        fn, param = self._activities[name]
        value = (
            None
            if input_json is None
            else ActivityTriggerConverter.decode(
                meta.Datum(type="json", value=input_json), trigger_metadata=None
            )
        )
        if inspect.iscoroutinefunction(fn):
            result = await fn(**{param: value})
        else:
            result = await asyncio.to_thread(fn, **{param: value})
        encoded: str = ActivityTriggerConverter.encode(result, expected_type=None).value
        return encoded
