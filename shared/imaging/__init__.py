"""Image API clients: one module per flavour behind `ImageApiClient` (see types.py).

Use `client_for(deployment, http, auth)`; every failure is an `ImageApiError` with an `ErrorCode`.
"""

from shared.imaging.auth import COGNITIVE_SCOPE, Auth
from shared.imaging.factory import client_for
from shared.imaging.types import (
    Deployment,
    ErrorCode,
    Family,
    Flavour,
    GeneratedImage,
    GenerationParams,
    ImageApiClient,
    ImageApiError,
    OperationState,
    OperationStatus,
)

__all__ = [
    "COGNITIVE_SCOPE",
    "Auth",
    "Deployment",
    "ErrorCode",
    "Family",
    "Flavour",
    "GeneratedImage",
    "GenerationParams",
    "ImageApiClient",
    "ImageApiError",
    "OperationState",
    "OperationStatus",
    "client_for",
]
