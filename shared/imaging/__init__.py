"""Image API clients: one module per flavour behind `ImageApiClient` (see types.py).

Use `shared.imaging.factory.client_for(deployment, http, auth)`; every failure is an
`ImageApiError` with an `ErrorCode`. This package re-exports only the pure names (types, `Auth`):
importing it must not load httpx or the flavour clients, which come with `factory` on first use.
"""

from shared.imaging.auth import COGNITIVE_SCOPE, Auth
from shared.imaging.types import (
    ByteSink,
    Deployment,
    ErrorCode,
    Family,
    Flavour,
    GeneratedImage,
    GenerationParams,
    ImageApiClient,
    ImageApiError,
    OpenSink,
    OperationState,
    OperationStatus,
)

__all__ = [
    "COGNITIVE_SCOPE",
    "Auth",
    "ByteSink",
    "Deployment",
    "ErrorCode",
    "Family",
    "Flavour",
    "GeneratedImage",
    "GenerationParams",
    "ImageApiClient",
    "ImageApiError",
    "OpenSink",
    "OperationState",
    "OperationStatus",
]
