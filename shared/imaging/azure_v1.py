"""Azure's v1 route: `/openai/v1/images/generations` (edits: `/openai/v1/images/edits`, multipart),
the deployment named in the body's `model`.

`api-version` is optional on this route; it is sent only when the deployment configures one.
"""

from __future__ import annotations

from urllib.parse import quote

from shared.imaging.base import SyncGenerationClient
from shared.imaging.types import Flavour


class AzureV1Client(SyncGenerationClient):
    flavour = Flavour.AZURE_V1

    def _url(self, *, edit: bool = False) -> str:
        base = self.endpoint
        if not base.endswith("/openai/v1"):
            base += "/openai/v1"
        url = f"{base}/images/{'edits' if edit else 'generations'}"
        if self.deployment.api_version:
            url += f"?api-version={quote(self.deployment.api_version, safe='')}"
        return url

    def _model_in_body(self) -> str | None:
        return self.deployment.deployment
