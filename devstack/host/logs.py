"""Logging for the host process, with secrets scrubbed from every line.

The app's own libraries log URLs (httpx logs each request, query string included): an emulator or
Blob SAS URL carries ``sig=``, a function URL ``code=``, a connection string ``AccountKey=``. The
filter rewrites the values, so no log line of the host ever shows one.
"""

from __future__ import annotations

import logging
import re
import sys

_SECRET = re.compile(
    r"(?i)\b(sig|code|key|api-key|api_key|access_token|token|accountkey|sharedaccesssignature)"
    r"(=|%3D)[^&\s;\"']+"
)


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}REDACTED", text)


class RedactSecrets(logging.Filter):
    """Formats the record once and replaces it with the redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        # Tracebacks quote exception messages, which can carry URLs too.
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
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
