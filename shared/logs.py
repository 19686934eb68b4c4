"""What the app's libraries may write to the logs.

httpx logs every request URL at INFO — for a generated image the service's signed URL, for a
completion callback the receiver's signed URL (`sig=` and all) — and azure-core logs every storage
request's headers at INFO. On Azure the worker ships INFO records to Application Insights as they
are, with no scrubbing in between, so both speak only from WARNING up.
"""

from __future__ import annotations

import logging

REQUEST_LOGGERS = ("httpx", "azure.core.pipeline.policies.http_logging_policy")


def quiet_request_loggers() -> None:
    for name in REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
