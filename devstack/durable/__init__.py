"""A local Durable Functions backend: the Durable extension's job, persisted in SQLite.

See docs/durable-engine.md for what is supported, how it differs from Azure, and which module
does what.
"""

from devstack.durable.engine import DurableEngine
from devstack.durable.errors import EngineError
from devstack.durable.invoker import FunctionInvoker

__all__ = ["DurableEngine", "EngineError", "FunctionInvoker"]
