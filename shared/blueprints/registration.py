"""The one way the app registers an activity: beside the coroutine it runs.

`@activity(bp, NAME)` adds the activity trigger to the module's blueprint and hands the coroutine
back unchanged, so the module keeps a plain `async def` that tests (and other activities) call
directly, and the name the orchestrator schedules (shared/orchestration/names.py, pure so that
registering loads no pydantic) is written once. Every activity takes its input as `payload`
(JSON, validated by the activity with its contract model) and returns JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import azure.durable_functions as df

F = TypeVar("F", bound=Callable[[Any], Awaitable[Any]])
INPUT_NAME = "payload"


def activity(bp: df.Blueprint, name: str) -> Callable[[F], F]:
    def register(fn: F) -> F:
        bp.activity_trigger(input_name=INPUT_NAME, activity=name)(fn)
        return fn

    return register
