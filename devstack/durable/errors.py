"""The one error a client request can meet, carrying the HTTP status the API answers with.

It lives apart from the client operations that raise it and the HTTP layer that turns it into a
response, so that neither of those has to import the other.
"""

from __future__ import annotations


class EngineError(Exception):
    """A client request the engine refuses; ``status`` is the HTTP status the API answers."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
