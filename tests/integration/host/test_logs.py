"""No secret reaches the host's log: signed URLs, function keys, account keys, tracebacks."""

from __future__ import annotations

import io
import logging
import uuid

from devstack.host.logs import RedactSecrets, register_secret


def _logger() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("test.devstack.host.logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    return logger, out


def test_signatures_keys_and_codes_are_scrubbed_from_messages_and_tracebacks():
    logger, out = _logger()
    logger.warning("GET %s", "http://h/a.png?se=2026&sp=r&sig=abc%2Bdef")
    logger.warning("POST /api/x?code=funckey123&name=ok")
    logger.warning("conn AccountKey=Eby8vdM02x==;BlobEndpoint=http://h")
    try:
        raise RuntimeError("download of http://h/b.png?sig=secretsig failed")
    except RuntimeError:
        logger.exception("activity failed")
    text = out.getvalue()
    for secret in ("abc%2Bdef", "funckey123", "Eby8vdM02x", "secretsig"):
        assert secret not in text
    assert "sig=REDACTED" in text
    assert "name=ok" in text  # the rest of the line stays readable
    assert "RuntimeError" in text


def test_a_key_header_and_the_hosts_own_keys_are_scrubbed_wherever_they_appear():
    logger, out = _logger()
    host_key = f"hostkey-{uuid.uuid4().hex}"
    register_secret(host_key)
    register_secret("short")  # too short to look for: ordinary words stay
    logger.warning("headers %s", {"x-functions-key": "hdrsecret1", "accept": "*/*"})
    logger.warning("x-functions-key: hdrsecret2")
    logger.warning("the app printed %s in passing, short of words", host_key)
    try:
        raise ValueError(f"bad key {host_key}")
    except ValueError:
        logger.exception("failed")
    text = out.getvalue()
    for secret in ("hdrsecret1", "hdrsecret2", host_key):
        assert secret not in text
    assert "'x-functions-key': 'REDACTED'" in text
    assert "'accept': '*/*'" in text
    assert "in passing, short of words" in text
