"""How the devstack host reads base64 message text: as the Functions host does."""

from __future__ import annotations

import base64

import pytest

from devstack.host.queues import BadMessageEncoding, decode_body

BODY = b'{"prompt": "a badger wearing a tuxedo, painted in oils"}'


@pytest.mark.parametrize(
    "text",
    [
        base64.encodebytes(BODY).decode(),  # wrapped at 76 with "\n", like `base64` without -w0
        base64.b64encode(BODY).decode().replace("A", "A\r\n", 1) + "\n",
        " " + base64.b64encode(BODY).decode() + "\t",
    ],
    ids=["wrapped", "crlf", "padded"],
)
def test_whitespace_in_base64_is_ignored_as_dotnet_does(text):
    assert decode_body(text, "base64") == BODY


@pytest.mark.parametrize("text", ["not base64!", '{"prompt": "a fox"}', "abc"])
def test_text_that_is_not_base64_is_refused_for_the_poison_queue(text):
    with pytest.raises(BadMessageEncoding):
        decode_body(text, "base64")
