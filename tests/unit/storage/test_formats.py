"""Image type and dimensions from the first bytes of a file, as the store reads them from the first
chunk of a streamed download: the right answer as soon as the header is there, None (never an
exception, never a wrong size) before that or for anything that is not a well-formed header."""

from __future__ import annotations

import io
import struct

import pytest
from PIL import Image

from shared.storage import dimensions, sniff

SIZE = (37, 21)


def image_bytes(fmt: str, size: tuple[int, int] = SIZE, *, alpha: bool = False, **save) -> bytes:
    """A real file from Pillow; `alpha` makes it translucent, so the encoder has to keep an
    alpha channel (an opaque RGBA image is saved like an RGB one)."""
    buf = io.BytesIO()
    if alpha:
        Image.new("RGBA", size, (200, 10, 10, 128)).save(buf, format=fmt, **save)
    else:
        Image.new("RGB", size, (200, 10, 10)).save(buf, format=fmt, **save)
    return buf.getvalue()


SAMPLES = {
    "png": (image_bytes("PNG"), "image/png"),
    "png-rgba": (image_bytes("PNG", alpha=True), "image/png"),
    "jpeg": (image_bytes("JPEG"), "image/jpeg"),
    "jpeg-progressive": (image_bytes("JPEG", progressive=True), "image/jpeg"),
    "jpeg-big-exif": (
        image_bytes("JPEG", exif=b"Exif\x00\x00" + b"\x00" * 60_000),
        "image/jpeg",
    ),
    "webp-lossy": (image_bytes("WEBP", quality=80), "image/webp"),
    "webp-lossless": (image_bytes("WEBP", lossless=True), "image/webp"),
    "webp-alpha": (image_bytes("WEBP", alpha=True, quality=80), "image/webp"),
}


@pytest.mark.parametrize("name", SAMPLES)
def test_dimensions_and_type_from_the_header(name):
    data, content_type = SAMPLES[name]
    fmt = sniff(data[:12])
    assert fmt is not None
    assert fmt.content_type == content_type
    assert dimensions(data) == SIZE


def test_a_translucent_webp_carries_its_size_in_the_extended_header():
    """Lossy WebP with alpha is the extended (VP8X) layout: its canvas size is read from there."""
    data, _ = SAMPLES["webp-alpha"]
    assert data[12:16] == b"VP8X"
    assert dimensions(image_bytes("WEBP", (1000, 3), alpha=True, quality=80)) == (1000, 3)


def _header_end(data: bytes) -> int:
    """Where the bytes holding the size end, by each format's layout."""
    if data.startswith(b"\x89PNG"):
        return 24  # signature, IHDR length and type, width, height
    if data[:4] == b"RIFF":
        return {b"VP8X": 30, b"VP8 ": 30, b"VP8L": 25}[data[12:16]]
    sof = min(i for i in (data.find(b"\xff\xc0"), data.find(b"\xff\xc2")) if i > 0)
    return sof + 9  # marker, length, precision, height, width


@pytest.mark.parametrize("name", SAMPLES)
def test_every_prefix_gives_none_until_the_size_is_there_then_the_size(name):
    data, _ = SAMPLES[name]
    end = _header_end(data)
    for n in sorted({*range(64), *range(max(0, end - 32), end + 16)}):
        assert dimensions(data[:n]) == (SIZE if n >= end else None), n


def test_a_jpeg_wider_than_32767_pixels_keeps_its_width():
    assert dimensions(image_bytes("JPEG", (40_000, 1))) == (40_000, 1)


def _jpeg_with(before_frame: bytes) -> bytes:
    """The sample JPEG with `before_frame` inserted just before its frame header."""
    data, _ = SAMPLES["jpeg"]
    sof = data.index(b"\xff\xc0")
    return data[:sof] + before_frame + data[sof:]


@pytest.mark.parametrize(
    "extra",
    [
        b"\xff",  # a fill byte before a marker
        b"\xff\xff",  # fill bytes
        b"\xff\x01",  # TEM: a marker without a length
        b"\xff\xd0",  # RST0 ...
        b"\xff\xd7",  # ... to RST7: markers without a length
        b"\xff\xfe\x00\x02",  # an empty comment segment
        b"\xff\xfe\x00\x05abc",  # a comment
    ],
    ids=["fill", "fills", "tem", "rst0", "rst7", "empty-comment", "comment"],
)
def test_jpeg_markers_before_the_frame_are_stepped_over(extra):
    assert dimensions(_jpeg_with(extra)) == SIZE


@pytest.mark.parametrize(
    "extra",
    [
        b"\xff\xd9\x00\x02",  # end of image before any frame (whatever follows)
        b"\xff\xda\x00\x02",  # start of scan before any frame
        b"\xff\xfe\x00\x01",  # a segment length too short to be one
        b"\x00\xff",  # lost sync: not a marker where one must be
        b"\xff\xd8",  # a second start of image: corrupt
    ],
    ids=["eoi", "sos", "short-length", "no-marker", "second-soi"],
)
def test_a_jpeg_without_a_frame_header_where_it_must_be_has_no_dimensions(extra):
    assert dimensions(_jpeg_with(extra)) is None


def _jpeg_sized(width: int, height: int) -> bytes:
    data, _ = SAMPLES["jpeg"]
    sof = data.index(b"\xff\xc0")
    return data[: sof + 5] + struct.pack(">HH", height, width) + data[sof + 9 :]


def _png_sized(width: int, height: int) -> bytes:
    data, _ = SAMPLES["png"]
    return data[:16] + struct.pack(">II", width, height) + data[24:]


@pytest.mark.parametrize("make", [_jpeg_sized, _png_sized], ids=["jpeg", "png"])
@pytest.mark.parametrize(("width", "height"), [(0, 21), (37, 0)])
def test_a_zero_size_in_the_header_is_no_size(make, width, height):
    """A JPEG may leave its height to a later DNL segment; a zero PNG size is invalid."""
    assert dimensions(make(width, height)) is None


def test_a_png_without_its_ihdr_chunk_first_has_no_dimensions():
    data, _ = SAMPLES["png"]
    assert dimensions(data[:12] + b"IDAT" + data[16:]) is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GIF89a....",
        b"<html><body>expired</body></html>",
        b"RIFF\x00\x00\x00\x00WAVE",
        b'{"error": "AuthenticationFailed"}',
    ],
)
def test_non_images_are_not_recognised(data):
    assert sniff(data) is None
    assert dimensions(data) is None


def test_a_webp_with_an_unknown_chunk_has_a_type_but_no_dimensions():
    data, _ = SAMPLES["webp-lossy"]
    assert sniff(data) is not None
    assert dimensions(data[:12] + b"VP9 " + data[16:]) is None


@pytest.mark.parametrize(
    ("name", "offset"),
    [("webp-lossy", 23), ("webp-lossless", 20)],
    ids=["vp8-sync-code", "vp8l-signature"],
)
def test_a_webp_bitstream_without_its_signature_has_no_dimensions(name, offset):
    data, _ = SAMPLES[name]
    assert dimensions(data[:offset] + b"\x00" + data[offset + 1 :]) is None
