"""Requests that used to escape as a 500: each is a RequestError / 4xx naming what is wrong.

The body (json.loads raised RecursionError for deep nesting, which is not a ValueError), the
Idempotency-Key header (undecodable bytes reached uuid5 as lone surrogates), the image index
(int() refuses over 4300 digits) and the id quoted back in a 404.
"""

from __future__ import annotations

import pytest

from shared.blueprints.http_api import IDEMPOTENCY_HEADER, idempotency_key, image_index, shown
from shared.models import RequestError, parse_body


def refused(body: bytes) -> RequestError:
    with pytest.raises(RequestError) as info:
        parse_body(body)
    return info.value


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"prompt": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        b'{"prompt": "x", "user": ' + b'{"a":' * 3000 + b"1" + b"}" * 3000 + b"}",
        b"[" * 100_000,  # not even closed
    ],
)
def test_deeply_nested_bodies_are_a_400_not_a_recursion_error(body):
    err = refused(body)
    assert err.status == 400
    assert err.code == "invalid_request"
    assert err.message == "the body is nested too deeply to be a request"


@pytest.mark.parametrize(
    "body",
    [
        b'{"prompt": "x", "n": ' + b"1" * 5000 + b"}",
        b'{"prompt": "x", "n": -' + b"9" * 4301 + b"}",
        b"1" * 10_000,
    ],
)
def test_a_number_too_long_for_int_is_a_400_that_says_so(body):
    err = refused(body)
    assert err.status == 400
    assert "number too long" in err.message


@pytest.mark.parametrize("body", [b'{"prompt": "\xff\xfe"}', b"\xc3\x28", b"\x80abc"])
def test_a_body_that_is_not_utf8_is_a_400(body):
    err = refused(body)
    assert err.status == 400
    assert err.field is None


def test_values_that_are_json_but_absurd_are_refused_by_the_schema():
    assert refused(b'{"prompt": "x", "n": 1e400}').field == "n"
    assert refused(b'{"prompt": ' + b"[" * 500 + b"]" * 500 + b"}").field == "prompt"


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("caf\udce9", "printable ASCII"),  # latin-1 byte 0xE9, as aiohttp hands it over
        ("café", "printable ASCII"),  # valid UTF-8, still not a header token
        ("a\x00b", "printable ASCII"),
        ("tab\there", "printable ASCII"),
        ("\x7f", "printable ASCII"),
        ("k" * 201, "too long"),
    ],
)
def test_an_unusable_idempotency_key_is_refused_naming_the_header(value, words):
    with pytest.raises(ValueError, match=words) as info:
        idempotency_key({IDEMPOTENCY_HEADER: value})
    assert IDEMPOTENCY_HEADER in str(info.value)


def test_usable_idempotency_keys_and_absent_ones():
    assert idempotency_key({IDEMPOTENCY_HEADER: "  order-42 "}) == "order-42"
    assert idempotency_key({IDEMPOTENCY_HEADER: "a b ~!"}) == "a b ~!"
    assert idempotency_key({IDEMPOTENCY_HEADER: "k" * 200}) == "k" * 200
    assert idempotency_key({IDEMPOTENCY_HEADER: "   "}) is None
    assert idempotency_key({}) is None


@pytest.mark.parametrize("raw", ["1" * 5000, "9" * 4301, "0" * 10_000 + "1", "10000000"])
def test_an_index_too_long_to_parse_is_past_every_image(raw):
    index = image_index(raw)
    assert index is not None
    assert index >= 10  # no job has more than 10 images: "the job has N image(s)"


@pytest.mark.parametrize("raw", ["", "-1", "²", "1.0", " 1", "0x1", "١"])
def test_an_index_that_is_not_a_plain_number_is_none(raw):
    assert image_index(raw) is None


def test_small_indexes_parse():
    assert [image_index(r) for r in ("0", "3", "007", "999999")] == [0, 3, 7, 999999]


def test_a_long_id_is_quoted_short_and_escaped():
    long_one = shown("a" * 10_000)
    assert len(long_one) < 120
    assert "10000 characters" in long_one
    assert shown("a\x00b\r\n") == repr("a\x00b\r\n")
    assert "\n" not in shown("x\n" * 100)
