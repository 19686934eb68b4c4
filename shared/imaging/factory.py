"""Pick the client for a deployment's flavour."""

from __future__ import annotations

import httpx

from shared.imaging.auth import Auth
from shared.imaging.azure_dalle2_async import AzureDalle2AsyncClient
from shared.imaging.azure_deployment import AzureDeploymentClient
from shared.imaging.azure_v1 import AzureV1Client
from shared.imaging.base import BaseImageClient
from shared.imaging.bfl_api import BflApiClient
from shared.imaging.bfl_foundry import BflFoundryClient
from shared.imaging.openai_api import OpenAIClient
from shared.imaging.types import Deployment, Flavour, ImageApiClient

CLIENTS: dict[Flavour, type[BaseImageClient]] = {
    Flavour.AZURE_DALLE2_ASYNC: AzureDalle2AsyncClient,
    Flavour.AZURE_DEPLOYMENT: AzureDeploymentClient,
    Flavour.AZURE_V1: AzureV1Client,
    Flavour.OPENAI: OpenAIClient,
    Flavour.BFL: BflApiClient,
    Flavour.BFL_FOUNDRY: BflFoundryClient,
}


def client_for(deployment: Deployment, http: httpx.AsyncClient, auth: Auth) -> ImageApiClient:
    """The ImageApiClient for `deployment`. `http` is shared and owned by the caller."""
    return CLIENTS[deployment.flavour](deployment, http, auth)
