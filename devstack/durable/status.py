"""An instance as the status API shows it, shared by the client API and the read-only CLI.

The CLI (``python -m devstack.durable``) reads a database without starting an engine, so the
rendering of an instance cannot live in the engine; the HTTP layer also needs the list of runtime
statuses to validate ``runtimeStatus=`` filters.
"""

from __future__ import annotations

import json
from typing import Any

from devstack.durable.history import iso_seconds
from devstack.durable.store import Instance

RUNTIME_STATUSES = (
    "Pending",
    "Running",
    "Completed",
    "ContinuedAsNew",
    "Failed",
    "Terminated",
    "Suspended",
)


def _parse_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def status_json(inst: Instance, show_input: bool = True) -> dict[str, Any]:
    """An instance as the status API shows it (timestamps to the second, as the extension)."""
    return {
        "name": inst.name,
        "instanceId": inst.instance_id,
        "runtimeStatus": inst.status,
        "input": _parse_or_none(inst.input) if show_input else None,
        "customStatus": _parse_or_none(inst.custom_status),
        "output": _parse_or_none(inst.output),
        "createdTime": iso_seconds(inst.created_time),
        "lastUpdatedTime": iso_seconds(inst.last_updated_time),
    }
