"""A local Durable Functions backend: the Durable extension's job, persisted in SQLite.

See docs/durable-engine.md for what is supported and how it differs from Azure.
"""

from devstack.durable.engine import DurableEngine
from devstack.durable.invoker import FunctionInvoker

__all__ = ["DurableEngine", "FunctionInvoker"]
