"""OpenAI's own API: `{endpoint}/v1/images/generations` (edits: `/v1/images/edits`, multipart),
model in the body, key as Bearer."""

from __future__ import annotations

from shared.imaging.base import SyncGenerationClient
from shared.imaging.types import Flavour


class OpenAIClient(SyncGenerationClient):
    flavour = Flavour.OPENAI
    bearer_key = True

    def _url(self, *, edit: bool = False) -> str:
        base = self.endpoint
        if not base.endswith("/v1"):
            base += "/v1"
        return f"{base}/images/{'edits' if edit else 'generations'}"

    def _model_in_body(self) -> str | None:
        return self.deployment.deployment
