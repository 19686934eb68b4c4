"""host.json and local.settings.json, read the way the Functions host reads them.

Only the settings the devstack honours are modelled; everything else in host.json is ignored, as
it would have no local effect. ``local.settings.json`` ``Values`` become environment variables
before the app is imported, and variables already set in the process environment win — that is
what Core Tools does, and it is how the Stack points the app at Azurite and the emulator.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d+))?$")


def parse_timespan(value: str | int | float) -> float:
    """A .NET TimeSpan string (``[d.]hh:mm:ss[.fff]``) in seconds."""
    if isinstance(value, int | float):
        return float(value)
    m = _TIMESPAN.match(value.strip())
    if not m:
        raise ValueError(f"not a TimeSpan (expected [d.]hh:mm:ss): {value!r}")
    days, hours, minutes, seconds, fraction = m.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    return total + (float(f"0.{fraction}") if fraction else 0.0)


@dataclass(frozen=True)
class QueueSettings:
    """``extensions.queues``, with the host's defaults."""

    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    message_encoding: str = "base64"
    batch_size: int = 16
    max_polling_interval: float = 1.0


@dataclass(frozen=True)
class HostSettings:
    route_prefix: str = "api"
    hub_name: str = "TestHubName"
    max_concurrent_activities: int = 10
    max_concurrent_orchestrations: int = 10
    queues: QueueSettings = field(default_factory=QueueSettings)

    @classmethod
    def from_host_json(cls, data: Mapping[str, Any]) -> HostSettings:
        ext = data.get("extensions") or {}
        http = ext.get("http") or {}
        durable = ext.get("durableTask") or {}
        queues = ext.get("queues") or {}
        encoding = str(queues.get("messageEncoding", "base64")).lower()
        if encoding not in ("base64", "none"):
            raise ValueError(f"host.json extensions.queues.messageEncoding: {encoding!r}")
        q = QueueSettings(
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            visibility_timeout=parse_timespan(queues.get("visibilityTimeout", "00:00:00")),
            message_encoding=encoding,
            batch_size=max(1, min(32, int(queues.get("batchSize", 16)))),
            # The real default is one minute; locally a new message should start within a second.
            max_polling_interval=min(1.0, parse_timespan(queues.get("maxPollingInterval", 1))),
        )
        prefix = str(http.get("routePrefix", "api")).strip("/")
        return cls(
            route_prefix=prefix,
            hub_name=str(durable.get("hubName", "TestHubName")),
            max_concurrent_activities=int(durable.get("maxConcurrentActivityFunctions", 10)),
            max_concurrent_orchestrations=int(
                durable.get("maxConcurrentOrchestratorFunctions", 10)
            ),
            queues=q,
        )

    @classmethod
    def load(cls, app_dir: Path) -> HostSettings:
        path = app_dir / "host.json"
        if not path.exists():
            return cls()
        return cls.from_host_json(json.loads(path.read_text(encoding="utf-8")))


def local_settings_values(app_dir: Path) -> dict[str, str]:
    """``Values`` of local.settings.json, or of local.settings.sample.json when there is none."""
    for name in ("local.settings.json", "local.settings.sample.json"):
        path = app_dir / name
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            values = data.get("Values") or {}
            return {str(k): "" if v is None else str(v) for k, v in values.items()}
    return {}


def apply_local_settings(
    app_dir: Path, environ: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """Put local settings into the environment without overriding what is already there.

    Returns the settings that were applied (names only matter to callers; values may be secret).
    """
    env = os.environ if environ is None else environ
    applied: dict[str, str] = {}
    for key, value in local_settings_values(app_dir).items():
        if key not in env:
            env[key] = value
            applied[key] = value
    return applied
