"""The seam between the Durable engine and whatever hosts the user's functions.

The engine knows nothing about decorators or the Functions worker: it hands the orchestrator a
context JSON and an activity its input JSON, exactly as the Durable extension does over gRPC, and
the host (devstack/host, or a test) calls the real SDK-wrapped functions.
"""

from __future__ import annotations

from typing import Protocol


class FunctionInvoker(Protocol):
    """Calls the app's orchestrators and activities the way the Functions worker would."""

    def orchestrator_names(self) -> set[str]:
        """Names of every orchestrationTrigger function."""
        ...

    def activity_names(self) -> set[str]:
        """Names of every activityTrigger function."""
        ...

    async def run_orchestrator(self, name: str, context_json: str) -> str:
        """Call the DFApp-wrapped orchestrator with ``func.OrchestrationContext(context_json)``.

        Returns the OrchestratorState JSON string, or raises what the SDK raised: a failing
        orchestrator raises ``Exception('<msg>\\n\\n$OutOfProcData$:<state json>')``, which the
        engine parses; any other exception fails the instance with its message.
        """
        ...

    async def run_activity(self, name: str, input_json: str | None) -> str:
        """Call the activity with its input decoded as the worker does (``df_loads``).

        Returns the JSON-encoded result (``df_dumps``); raises on failure, and the engine records
        TaskFailed with the exception as Reason/Details.
        """
        ...
