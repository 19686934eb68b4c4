"""Image URLs the emulator serves itself: HMAC-signed and expiring, like the service's SAS URLs.

The app must download a URL result before it expires and must not treat the URL as a permanent
address; an expiring, tamper-evident URL is what makes both mistakes visible locally.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import os
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlencode

from devstack.emulator.images import EXTENSIONS

_SE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class RenderSpec:
    """Everything `images.render` (and `images.pad`) need: the image a URL stands for."""

    prompt: str
    width: int
    height: int
    index: int
    fmt: str
    transparent: bool
    compression: int | None = None
    min_bytes: int = 0  # `image_min_bytes` when the image was answered (`images.pad`)
    seed: int | None = None  # FLUX's seed (`images.render`); None for every other model

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.fmt]

    def token(self) -> str:
        key = repr(
            (
                self.prompt,
                self.width,
                self.height,
                self.index,
                self.fmt,
                self.transparent,
                self.compression,
                self.min_bytes,
                self.seed,
            )
        )
        return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Rendered:
    """An image rendered once and kept by its bytes (`RenderCache.keep`), not by a spec.

    Edits are a pure function of their inputs too, but the inputs (up to 16 images of 50 MB) are
    far too big to keep in a spec for as long as a URL lives: the output is kept instead.
    """

    digest: str  # sha256 prefix of the bytes
    fmt: str

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.fmt]

    def token(self) -> str:
        return self.digest


Servable = RenderSpec | Rendered  # what a signed URL (or a BFL sample) can stand for

Verdict = Literal["ok", "expired", "bad-signature", "malformed"]


class SignedImageUrls:
    """Token → render spec, plus signing and checking of `se`/`sig` query parameters."""

    def __init__(self, secret: bytes | None = None, max_entries: int = 100_000) -> None:
        self._secret = secret or os.urandom(32)
        self._specs: OrderedDict[str, Servable] = OrderedDict()
        self._max = max_entries

    def register(self, spec: Servable) -> str:
        token = spec.token()
        self._specs[token] = spec
        self._specs.move_to_end(token)
        while len(self._specs) > self._max:
            self._specs.popitem(last=False)
        return token

    def lookup(self, token: str) -> Servable | None:
        return self._specs.get(token)

    def _sig(self, name: str, se: str) -> str:
        mac = hmac.new(self._secret, f"{name}\n{se}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def url(self, base: str, spec: Servable, expires_at: float) -> str:
        token = self.register(spec)
        name = f"{token}.{spec.extension}"
        return f"{base}/_emulator/images/{name}?{self.signed_query(name, expires_at)}"

    def signed_query(self, name: str, expires_at: float) -> str:
        """``se=…&sp=r&sig=…`` for the resource ``name`` (also BFL samples, on their own route)."""
        se = datetime.fromtimestamp(math.ceil(expires_at), UTC).strftime(_SE_FORMAT)
        return urlencode({"se": se, "sp": "r", "sig": self._sig(name, se)})

    def verify(self, name: str, se: str | None, sig: str | None, now: float) -> Verdict:
        if not se or not sig:
            return "malformed"
        try:
            expiry = datetime.strptime(se, _SE_FORMAT).replace(tzinfo=UTC).timestamp()
        except ValueError:
            return "malformed"
        if not hmac.compare_digest(self._sig(name, se), sig):
            return "bad-signature"
        if now >= expiry:
            return "expired"
        return "ok"
