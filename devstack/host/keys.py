"""Function keys, checked the way the Functions host checks them — when the devstack is asked to.

Core Tools ignores ``authLevel`` on localhost, and so does this host by default. With
``DEVSTACK_FUNCTION_KEY`` set (environment, else ``local.settings.json`` ``Values``) it enforces
keys like Azure (azure-functions-host ``AuthenticationLevelHandler``, ``SecretManager``,
``AuthUtility.PrincipalHasAuthLevelClaim``, ``FunctionInvocationMiddleware``):

- the key is the ``x-functions-key`` header or, only when that header is absent, the ``code``
  query parameter (name matched case-insensitively, the first value taken); an empty header is
  no key, and does not fall back to ``code``;
- ``anonymous`` routes need no key; ``function`` routes need the function key or the master key;
  ``admin`` routes need the master key (``DEVSTACK_MASTER_KEY``; without it they are refused);
- a route that needs a key the request does not carry answers 401 with an empty body (the host's
  ``UnauthorizedResult``) before the function runs and before the body is read.

Keys are compared in constant time (``hmac.compare_digest`` over SHA-256 digests, so neither the
content nor the length of a key leaks through timing). A key never appears in a repr or a log
line: the values are registered with the log filter (``logs.register_secret``).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FUNCTION_KEY_SETTING = "DEVSTACK_FUNCTION_KEY"
MASTER_KEY_SETTING = "DEVSTACK_MASTER_KEY"
KEY_HEADER = "x-functions-key"
KEY_QUERY = "code"


class AuthLevel(enum.Enum):
    """An HTTP trigger's ``authLevel`` (azure.functions' AuthLevel; the host's
    AuthorizationLevel also has System and User, which Python apps cannot declare)."""

    ANONYMOUS = "anonymous"
    FUNCTION = "function"
    ADMIN = "admin"

    @classmethod
    def parse(cls, value: object) -> AuthLevel:
        """The level of a binding's ``authLevel`` (``"FUNCTION"``, ``"anonymous"``...). Missing
        is ``function``, the host's default; an unknown value is ``admin``, so a typo closes a
        route rather than opening it."""
        if value is None or value == "":
            return cls.FUNCTION
        text = str(getattr(value, "value", value)).strip().lower()
        try:
            return cls(text)
        except ValueError:
            return cls.ADMIN


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


@dataclass(frozen=True)
class HostKeys:
    """The keys this host accepts; no key configured: every route is open (Core Tools)."""

    function_key: str | None = field(default=None, repr=False)
    master_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> HostKeys:
        """From the settings (the host has put local.settings.json into the environment by now);
        an empty value is no key."""
        env = os.environ if environ is None else environ
        return cls(
            function_key=env.get(FUNCTION_KEY_SETTING) or None,
            master_key=env.get(MASTER_KEY_SETTING) or None,
        )

    @property
    def enforced(self) -> bool:
        return bool(self.function_key or self.master_key)

    @property
    def secrets(self) -> list[str]:
        return [k for k in (self.function_key, self.master_key) if k]

    def level_of(self, presented: str | None) -> AuthLevel:
        """What a presented key grants: the master key ``admin``, the function key ``function``,
        anything else (no key, a wrong one) nothing beyond ``anonymous``. Both keys are compared,
        whatever matched first."""
        if not presented:
            return AuthLevel.ANONYMOUS
        digest = _digest(presented)
        is_master = bool(self.master_key) and hmac.compare_digest(
            digest, _digest(self.master_key or "")
        )
        is_function = bool(self.function_key) and hmac.compare_digest(
            digest, _digest(self.function_key or "")
        )
        if is_master:
            return AuthLevel.ADMIN
        if is_function:
            return AuthLevel.FUNCTION
        return AuthLevel.ANONYMOUS

    def authorizes(self, required: AuthLevel, presented: str | None) -> bool:
        """Whether a request with ``presented`` may call a route of level ``required``."""
        if not self.enforced or required is AuthLevel.ANONYMOUS:
            return True
        granted = self.level_of(presented)
        return granted is AuthLevel.ADMIN or granted is required


def presented_key(headers: Mapping[str, str], query: Iterable[tuple[str, str]]) -> str | None:
    """The key a request carries: the ``x-functions-key`` header (case-insensitive mapping, its
    first value) if present at all, else the first ``code`` query value, its name in any case."""
    if KEY_HEADER in headers:
        return headers[KEY_HEADER]
    for name, value in query:
        if name.lower() == KEY_QUERY:
            return value
    return None
