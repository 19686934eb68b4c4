"""The ``python -m devstack`` commands: ``start`` and ``generate``."""
