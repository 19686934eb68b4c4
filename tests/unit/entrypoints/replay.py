"""A minimal Durable host for replay tests: the real azure-functions-durable SDK replays the
orchestrator from a history this module builds, episode by episode (see the local-host contract).

Activities are plain Python callables run in-process; timers fire at once, with the clock moved to
their fireAt, so a test sees exactly which waits the orchestrator asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

_MARKER = "$OutOfProcData$:"
T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def _ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ActivityError(Exception):
    """Raise from a test activity to produce TaskFailed."""


@dataclass
class Run:
    output: Any
    custom_status: Any
    calls: list[tuple[str, Any]] = field(default_factory=list)
    timers: list[datetime] = field(default_factory=list)


def _flatten(actions: list[Any]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for action in actions:
        if isinstance(action, list):
            flat += _flatten(action)
        elif action.get("actionType") in (11, 12):
            flat += _flatten(action.get("compoundActions", []))
        else:
            flat.append(action)
    return flat


def replay(
    orchestrator: Callable[[df.DurableOrchestrationContext], Generator[Any, Any, Any]],
    activities: dict[str, Callable[[Any], Any]],
    *,
    input: Any = None,
    instance_id: str = "job-1",
    max_episodes: int = 100,
) -> Run:
    handle = df.Orchestrator.create(orchestrator)
    now = T0
    history: list[dict[str, Any]] = [
        {"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(now)},
        {
            "EventType": 0,
            "EventId": -1,
            "IsPlayed": False,
            "Timestamp": _ts(now),
            "Name": "orchestrator",
            "Version": "",
            "Input": json.dumps(input),
        },
    ]
    run = Run(output=None, custom_status=None)
    handled = 0
    for _ in range(max_episodes):
        context = {
            "history": history,
            "input": json.dumps(input),
            "instanceId": instance_id,
            "isReplaying": False,
            "parentInstanceId": None,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }
        try:
            state = json.loads(handle(func.OrchestrationContext(json.dumps(context))))
        except Exception as exc:
            text = str(exc)
            if _MARKER not in text:
                raise
            state = json.loads(text.split(_MARKER, 1)[1])
            raise AssertionError(f"orchestrator failed: {text.split(_MARKER)[0]}") from None
        run.custom_status = state.get("customStatus")
        if state.get("isDone"):
            run.output = state.get("output")
            return run
        for event in history:
            event["IsPlayed"] = True
        actions = _flatten(state.get("actions") or [])
        new = actions[handled:]
        if not new:
            raise AssertionError("orchestrator is waiting on nothing this host can deliver")
        completions: list[dict[str, Any]] = []
        fire_at = now
        for offset, action in enumerate(new):
            task_id = handled + offset
            kind = action["actionType"]
            if kind == 0:
                name = action["functionName"]
                arg = json.loads(action["input"]) if action.get("input") else None
                history.append(
                    {
                        "EventType": 4,
                        "EventId": task_id,
                        "IsPlayed": False,
                        "Timestamp": _ts(now),
                        "Name": name,
                    }
                )
                run.calls.append((name, arg))
                try:
                    result = activities[name](arg)
                except ActivityError as exc:
                    completions.append(
                        {
                            "EventType": 6,
                            "EventId": -1,
                            "IsPlayed": False,
                            "Timestamp": _ts(now),
                            "TaskScheduledId": task_id,
                            "Reason": str(exc),
                            "Details": "",
                        }
                    )
                else:
                    completions.append(
                        {
                            "EventType": 5,
                            "EventId": -1,
                            "IsPlayed": False,
                            "Timestamp": _ts(now),
                            "TaskScheduledId": task_id,
                            "Result": json.dumps(result),
                        }
                    )
            elif kind == 5:
                when = datetime.strptime(action["fireAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                    tzinfo=UTC
                )
                run.timers.append(when)
                fire_at = max(fire_at, when)
                history.append(
                    {
                        "EventType": 10,
                        "EventId": task_id,
                        "IsPlayed": False,
                        "Timestamp": _ts(now),
                        "FireAt": action["fireAt"],
                    }
                )
                completions.append(
                    {
                        "EventType": 11,
                        "EventId": -1,
                        "IsPlayed": False,
                        "Timestamp": _ts(when),
                        "TimerId": task_id,
                        "FireAt": action["fireAt"],
                    }
                )
            else:
                raise AssertionError(f"action type {kind} not supported by this test host")
        handled = len(actions)
        now = fire_at
        history.append({"EventType": 12, "EventId": -1, "IsPlayed": False, "Timestamp": _ts(now)})
        history += completions
    raise AssertionError("orchestration did not finish")
