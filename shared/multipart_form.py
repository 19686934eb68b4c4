"""Read a `multipart/form-data` body strictly: every part named, every text field UTF-8, the body
complete. werkzeug's form parser (what `func.HttpRequest.form` uses) is lenient where this API
must not be: it drops a truncated body or a part without a name silently and decodes bad bytes as
U+FFFD, so a job could start with a prompt the caller never wrote. Its sans-IO decoder gives the
parts as events; the rules are applied here, and each break is a `FormError` naming what broke.
"""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

MAX_PARTS = 64  # 16 images, a mask and the options, with room; more is not an edit request


class FormError(ValueError):
    def __init__(self, message: str, field: str = "body") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Part:
    name: str
    data: bytes
    filename: str  # "" when the part names none (it is a file all the same)


def boundary_of(content_type: str) -> bytes:
    """The boundary a `multipart/form-data` Content-Type names, or FormError."""
    _mime, options = parse_options_header(content_type)
    boundary = options.get("boundary", "")
    if not boundary or len(boundary) > 70 or not boundary.isascii():  # RFC 2046 5.1.1
        raise FormError("the multipart Content-Type has no usable boundary", "Content-Type")
    return boundary.encode()


def read_form(body: bytes, content_type: str) -> tuple[list[tuple[str, str]], list[Part]]:
    """(text fields, file parts), each in the order sent; FormError for any malformed body."""
    boundary = boundary_of(content_type)
    decoder = MultipartDecoder(boundary, max_parts=MAX_PARTS)
    if not body.strip():
        raise FormError("the body is empty: send a prompt and at least one image part")
    if b"--" + boundary + b"--" not in body:  # the decoder would only say "cannot parse beyond"
        raise FormError("the multipart body is truncated: it does not end with its boundary")
    fields: list[tuple[str, str]] = []
    files: list[Part] = []
    current: Field | File | None = None
    chunks: list[bytes] = []
    try:
        decoder.receive_data(body)
        decoder.receive_data(None)
        event = decoder.next_event()
        while not isinstance(event, Epilogue | NeedData):
            if isinstance(event, Field | File):
                if not event.name:
                    raise FormError("a part of the multipart body has no name")
                current, chunks = event, []
            elif isinstance(event, Data) and current is not None:
                chunks.append(event.data)
                if not event.more_data:
                    data = b"".join(chunks)
                    if isinstance(current, File):
                        files.append(Part(current.name, data, current.filename or ""))
                    else:
                        fields.append((current.name, _text(current.name, data)))
                    current = None
            event = decoder.next_event()
    except FormError:
        raise
    except ValueError as exc:  # the decoder's own words: about the framing, never the data
        raise FormError(f"the multipart body cannot be read: {str(exc)[:120]}") from None
    except RequestEntityTooLarge:  # the decoder's part count
        raise FormError(f"the multipart body has more than {MAX_PARTS} parts") from None
    if not isinstance(event, Epilogue) or current is not None:
        raise FormError("the multipart body is truncated: it does not end with its boundary")
    return fields, files


def _text(name: str, data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise FormError(f"{name} is not UTF-8 text", name) from None
