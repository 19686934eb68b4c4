"""Reading what the orchestrator asked for: OrchestratorState JSON and its actions.

The SDK (schema V2/V3) answers with ``actions[0]`` listing every action of the execution so far,
compound actions (WhenAll/WhenAny) holding their children. Task ids are handed out one per atomic
action in that flattened order, external-event waits excepted (they are matched by name), which is
exactly the order in which the SDK numbers its tasks. Action kinds are the SDK's own
``ActionType``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from azure.durable_functions.models.actions import ActionType

from devstack.durable.history import pascal_case

OUT_OF_PROC_MARKER = "\n\n$OutOfProcData$:"

SUPPORTED = {
    ActionType.CALL_ACTIVITY,
    ActionType.CALL_ACTIVITY_WITH_RETRY,
    ActionType.CALL_SUB_ORCHESTRATOR,
    ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY,
    ActionType.CONTINUE_AS_NEW,
    ActionType.CREATE_TIMER,
    ActionType.WAIT_FOR_EXTERNAL_EVENT,
}
COMPOUND = (ActionType.WHEN_ANY, ActionType.WHEN_ALL)


@dataclass
class Outcome:
    """One orchestrator invocation, normalised."""

    actions: list[dict[str, Any]] = field(default_factory=list)
    is_done: bool = False
    output: Any = None
    custom_status: Any = None
    error: str | None = None


def flatten(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Atomic actions in task-id order (compound children in order, recursively)."""
    flat: list[dict[str, Any]] = []
    for action in actions:
        if action.get("actionType") in COMPOUND:
            flat.extend(flatten(action.get("compoundActions") or []))
        else:
            flat.append(action)
    return flat


def _state_actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    actions = state.get("actions") or []
    if not actions:
        return []
    if isinstance(actions[0], list):
        # Schema V2/V3: one cumulative list. (V1 would be one list per await: concatenate.)
        if state.get("schemaVersion", 0) >= 1:
            return list(actions[0])
        return [a for group in actions for a in group]
    return list(actions)


def parse_result(state_json: str) -> Outcome:
    state = json.loads(state_json)
    return Outcome(
        actions=_state_actions(state),
        is_done=bool(state.get("isDone")),
        output=state.get("output"),
        custom_status=state.get("customStatus"),
        error=state.get("error"),
    )


def parse_failure(exc: BaseException) -> Outcome:
    """A raising orchestrator: keep its message, and the state after the marker if present."""
    text = str(exc)
    if OUT_OF_PROC_MARKER in text:
        message, _, state_text = text.partition(OUT_OF_PROC_MARKER)
        try:
            outcome = parse_result(state_text)
        except ValueError:
            outcome = Outcome()
        outcome.error = message or outcome.error or type(exc).__name__
        outcome.is_done = False
        return outcome
    return Outcome(error=text or type(exc).__name__)


def _sdk_name(kind: int) -> str | None:
    try:
        return pascal_case(ActionType(kind).name)
    except ValueError:
        return None


def unsupported_reason(action: dict[str, Any]) -> str | None:
    kind = action.get("actionType")
    if kind in SUPPORTED:
        return None
    name = _sdk_name(kind) if isinstance(kind, int) else None
    label = f"{kind} ({name})" if name else f"{kind!r}"
    return (
        f"Durable action type {label} is not supported by the devstack Durable engine "
        "(supported: activities, retries, timers, external events, sub-orchestrations, "
        "WhenAll/WhenAny, ContinueAsNew)."
    )


def retry_delay_seconds(options: dict[str, Any], attempt: int) -> float:
    """Delay before attempt ``attempt + 1`` (DTFx RetryOptions semantics)."""
    first = float(options.get("firstRetryIntervalInMilliseconds") or 0) / 1000.0
    backoff = float(options.get("backoffCoefficient") or 1.0)
    delay = first * (backoff ** (attempt - 1))
    cap = options.get("maxRetryIntervalInMilliseconds")
    if cap:
        delay = min(delay, float(cap) / 1000.0)
    return max(delay, 0.0)
