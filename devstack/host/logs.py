"""Logging for the host process, with secrets scrubbed from every line.

The app's own libraries log URLs (httpx logs each request, query string included): an emulator or
Blob SAS URL carries ``sig=``, a function URL ``code=``, a connection string ``AccountKey=``. The
filter rewrites the values, so no log line of the host ever shows one. A header quoted as
``x-functions-key: value`` (or in a dict's repr) is scrubbed too, and the secrets the host itself
holds (its function and master keys, ``register_secret``) wherever they appear in a line.

Log lines also quote what callers sent (a request path, a header, a job id): the same filter
backslash-escapes control characters (CR, LF, NUL, ESC...) and undecodable bytes (lone surrogates)
in every message, so one record is one line starting with the usual prefix, and no request can
forge a log line or break the handler's UTF-8 output.
"""

from __future__ import annotations

import logging
import re
import sys

_SECRET = re.compile(
    r"(?i)\b(sig|code|key|api-key|api_key|access_token|token|accountkey|sharedaccesssignature)"
    r"(=|%3D)[^&\s;\"']+"
)
# A key header as a client library or a dict repr shows it: ``x-functions-key: v``, ``'...': 'v'``.
_KEY_HEADER = re.compile(r"(?i)(x-functions-key['\"]?\s*[:=]\s*['\"]?)[^'\"\s,;&}]+")
# Values the host knows are secret, replaced literally; too short a value would blank out
# ordinary words, so keys under this length are left to the patterns above.
MIN_LITERAL_SECRET = 8
_LITERAL_SECRETS: set[str] = set()


def register_secret(value: str | None) -> None:
    """Never show ``value`` in a log line from now on (the host's function and master keys)."""
    if value and len(value) >= MIN_LITERAL_SECRET:
        _LITERAL_SECRETS.add(value)


# C0 and C1 controls, DEL, the Unicode line/paragraph separators, lone surrogates (bytes that
# were not UTF-8, as aiohttp hands them over).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_UNSAFE_IN_TRACEBACK = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def _escaped(match: re.Match[str]) -> str:
    ch = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch) or (
        f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}"
    )


def escape_controls(text: str) -> str:
    """``text`` on one line: control characters and lone surrogates as backslash escapes."""
    return _UNSAFE.sub(_escaped, text)


def redact(text: str) -> str:
    for secret in sorted(_LITERAL_SECRETS, key=len, reverse=True):
        text = text.replace(secret, "REDACTED")
    text = _KEY_HEADER.sub(lambda m: f"{m.group(1)}REDACTED", text)
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}REDACTED", text)


class RedactSecrets(logging.Filter):
    """Formats the record once and replaces it with the redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = escape_controls(redact(message))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # Tracebacks quote exception messages, which can carry URLs too.
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            # A traceback is several lines by nature; within them, the same escaping.
            record.exc_text = _UNSAFE_IN_TRACEBACK.sub(_escaped, redact(record.exc_text))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FORMATTER = logging.Formatter()


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    # The storage SDK logs every request and its headers at INFO: too much, and none of it useful.
    logging.getLogger("azure").setLevel(logging.WARNING)
