"""History events in the shape the Python SDK replays and the shape the status API shows.

Two renderings of one event list: the replay form (integer ``EventType``, ``IsPlayed``, JSON-in-JSON
payloads) goes to the orchestrator; the public form (string ``EventType``, scheduling events folded
into their completions, parsed results) is what ``showHistory=true`` answers, as the real extension
does in ``DurableOrchestrationClient.GetDurableOrchestrationStatusAsync``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]


class EventType(IntEnum):
    ExecutionStarted = 0
    ExecutionCompleted = 1
    ExecutionFailed = 2
    ExecutionTerminated = 3
    TaskScheduled = 4
    TaskCompleted = 5
    TaskFailed = 6
    SubOrchestrationInstanceCreated = 7
    SubOrchestrationInstanceCompleted = 8
    SubOrchestrationInstanceFailed = 9
    TimerCreated = 10
    TimerFired = 11
    OrchestratorStarted = 12
    OrchestratorCompleted = 13
    EventSent = 14
    EventRaised = 15
    ContinueAsNew = 16
    GenericEvent = 17
    HistoryState = 18
    ExecutionSuspended = 19
    ExecutionResumed = 20


def iso_precise(ts: float) -> str:
    """Event timestamps and timer fireAt: microseconds, as the SDK formats them."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def iso_seconds(ts: float) -> str:
    """Status JSON timestamps: ``yyyy-MM-ddTHH:mm:ssZ`` like the real extension."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(value: str) -> float:
    """Parse an ISO-8601 time (``Z`` or offset; naive means UTC) to epoch seconds."""
    dt = datetime.fromisoformat(value.strip().replace(" ", "+"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def event(kind: EventType, ts: float, event_id: int = -1, **fields: Any) -> Event:
    """A replay-form event; ``IsPlayed`` is set per episode when the context is built."""
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": iso_precise(ts),
        **fields,
    }


def _parse_json_text(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


_STATUS_NAMES = {
    "Completed": "Completed",
    "Failed": "Failed",
    "Terminated": "Terminated",
    "ContinueAsNew": "ContinuedAsNew",
}


def public_history(events: list[Event], show_output: bool) -> list[Event]:
    """The ``historyEvents`` array the status API returns."""
    scheduled: dict[tuple[str, int], tuple[int, Event]] = {}
    drop: set[int] = set()
    out: list[Event | None] = []
    for i, raw in enumerate(events):
        item = dict(raw)
        kind = EventType(item["EventType"])
        item["EventType"] = kind.name
        if kind in (EventType.OrchestratorStarted, EventType.OrchestratorCompleted):
            drop.add(i)
        elif kind in (EventType.TaskScheduled, EventType.SubOrchestrationInstanceCreated):
            scheduled[(kind.name, item["EventId"])] = (i, raw)
            item.pop("Input", None)
            item.pop("Version", None)
        elif kind in (
            EventType.TaskCompleted,
            EventType.TaskFailed,
            EventType.SubOrchestrationInstanceCompleted,
            EventType.SubOrchestrationInstanceFailed,
        ):
            prefix = (
                "TaskScheduled"
                if kind in (EventType.TaskCompleted, EventType.TaskFailed)
                else "SubOrchestrationInstanceCreated"
            )
            found = scheduled.get((prefix, item.get("TaskScheduledId", -2)))
            if found is not None:
                idx, sched = found
                item["ScheduledTime"] = sched["Timestamp"]
                item["FunctionName"] = sched.get("Name")
                drop.add(idx)
            item.pop("TaskScheduledId", None)
            if "Result" in item:
                if show_output:
                    item["Result"] = _parse_json_text(item["Result"])
                else:
                    item.pop("Result")
        elif kind is EventType.ExecutionStarted:
            item["FunctionName"] = item.pop("Name", None)
            for key in ("OrchestrationInstance", "ParentInstance", "Version", "Tags", "Input"):
                item.pop(key, None)
        elif kind is EventType.ExecutionCompleted:
            item["OrchestrationStatus"] = _STATUS_NAMES.get(
                item.get("OrchestrationStatus", ""), item.get("OrchestrationStatus")
            )
            if show_output:
                item["Result"] = _parse_json_text(item.get("Result"))
            else:
                item.pop("Result", None)
        elif kind is EventType.TimerFired:
            item.pop("TimerId", None)
        elif kind in (EventType.EventRaised, EventType.ExecutionTerminated):
            item.pop("Input", None)
        item.pop("EventId", None)
        item.pop("IsPlayed", None)
        out.append(item)
    return [e for i, e in enumerate(out) if i not in drop and e is not None]
