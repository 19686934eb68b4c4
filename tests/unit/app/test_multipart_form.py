"""The edits route's strict multipart reader: every break is a FormError naming what broke."""

from __future__ import annotations

import httpx
import pytest

from shared.multipart_form import MAX_PARTS, FormError, Part, boundary_of, read_form

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


def form(
    fields: dict[str, str], files: list[tuple[str, tuple[str, bytes, str]]]
) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://h/", data=fields, files=files)
    return request.read(), request.headers["content-type"]


def raw(parts: list[bytes], boundary: str = "b0", end: bool = True) -> tuple[bytes, str]:
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts)
    if end:
        body += f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def refused(body: bytes, content_type: str) -> FormError:
    with pytest.raises(FormError) as info:
        read_form(body, content_type)
    return info.value


def test_fields_and_files_come_back_in_the_order_sent():
    body, ctype = form(
        {"prompt": "make it winter", "n": "2"},
        [("image[]", ("a.png", PNG, "image/png")), ("image[]", ("b.png", PNG[::-1], "image/png"))],
    )
    fields, files = read_form(body, ctype)
    assert fields == [("prompt", "make it winter"), ("n", "2")]
    assert files == [Part("image[]", PNG, "a.png"), Part("image[]", PNG[::-1], "b.png")]


def test_a_file_without_a_filename_is_still_a_file():
    body, ctype = raw([b'Content-Disposition: form-data; name="image"; filename=""\r\n\r\n' + PNG])
    _fields, [part] = read_form(body, ctype)
    assert (part.name, part.data, part.filename) == ("image", PNG, "")


def test_utf8_text_is_kept_exactly():
    body, ctype = raw(['Content-Disposition: form-data; name="prompt"\r\n\r\nhiver ❄'.encode()])
    assert read_form(body, ctype)[0] == [("prompt", "hiver ❄")]


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=" + "x" * 71,
        "multipart/form-data; boundary=é",
    ],
)
def test_a_content_type_without_a_usable_boundary_names_it(content_type):
    err = refused(b"--x\r\n", content_type)
    assert err.field == "Content-Type"


def test_the_boundary_parameter_is_case_insensitive():
    assert boundary_of("multipart/form-data; Boundary=abc") == b"abc"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (raw([b'Content-Disposition: form-data; name="prompt"\r\n\r\nx'], end=False), "truncated"),
        ((b"--other\r\n\r\nx\r\n--other--\r\n", "multipart/form-data; boundary=b0"), "truncated"),
        ((b"   ", "multipart/form-data; boundary=b0"), "empty"),
        (raw([b"Content-Disposition: form-data\r\n\r\nx"]), "no name"),
        (raw([b"Content-Type: text/plain\r\n\r\nx"]), "read"),
    ],
)
def test_a_malformed_body_names_the_body(body, words):
    err = refused(*body)
    assert err.field == "body"
    assert words in err.message


def test_text_that_is_not_utf8_names_its_field():
    err = refused(*raw([b'Content-Disposition: form-data; name="prompt"\r\n\r\nwin\xffter']))
    assert err.field == "prompt"
    assert "UTF-8" in err.message


def test_more_parts_than_an_edit_has_are_refused():
    part = b'Content-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n' + PNG
    err = refused(*raw([part] * (MAX_PARTS + 1)))
    assert err.field == "body"
    assert str(MAX_PARTS) in err.message
    assert read_form(*raw([part] * MAX_PARTS))[1][0].data == PNG


def test_a_boundary_of_the_longest_allowed_length_is_read():
    boundary = "b" * 70  # RFC 2046: 1 to 70 characters
    body, ctype = raw([b'Content-Disposition: form-data; name="prompt"\r\n\r\nx'], boundary)
    assert read_form(body, ctype)[0] == [("prompt", "x")]


def test_a_large_file_arrives_whole_however_the_decoder_splits_it():
    big = bytes(range(256)) * 2048  # 512 KiB: many pieces of the decoder's buffer
    body, ctype = form({"prompt": "x"}, [("image", ("a.png", PNG + big, "image/png"))])
    assert read_form(body, ctype)[1][0].data == PNG + big


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            raw([b'Content-Disposition: form-data; name="x"\r\n\r\ny'], end=False),
            "the multipart body is truncated: it does not end with its boundary",
        ),
        (
            raw([b"Content-Disposition: form-data\r\n\r\nx"]),
            "a part of the multipart body has no name",
        ),
        (
            (b"\r\n", "multipart/form-data; boundary=b0"),
            "the body is empty: send a prompt and at least one image part",
        ),
        (
            (b"--b0--\r\n", "multipart/form-data"),
            "the multipart Content-Type has no usable boundary",
        ),
    ],
)
def test_each_refusal_says_what_broke(body, message):
    assert refused(*body).message == message


def test_a_decoder_refusal_quotes_the_decoders_reason():
    err = refused(*raw([b"Content-Type: text/plain\r\n\r\nx"]))
    assert err.message.startswith("the multipart body cannot be read: ")
    assert "Content-Disposition" in err.message
