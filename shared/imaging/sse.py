"""Read a streamed image reply (`text/event-stream`, image-models-2026.md §4) as it arrives.

A streaming gpt-image call answers with server-sent events: partial images
(`image_generation.partial_image` / `image_edit.partial_image`, each with its
`partial_image_index`), then the final image (`*.completed`). Each event is one `data:` line of
JSON whose `b64_json` can be several MB of text, so a line is never held: its value bytes go,
chunk by chunk, into a per-event `B64JsonSplitter` that decodes the image straight into a sink
chosen by the event's type (a preview sink for a partial, the job's staged blob for the final).
What is held is bounded whatever the image's size: a field name, a short `event:` value and
each event's JSON without its image.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from shared.imaging.b64stream import B64JsonSplitter, invalid_base64
from shared.imaging.errors import classify_stream_error, invalid_body_error, safe_message
from shared.imaging.types import (
    ByteSink,
    ErrorCode,
    GeneratedImage,
    ImageApiError,
    OpenSink,
    Previews,
    PreviewSink,
)

log = logging.getLogger(__name__)

EVENT_STREAM = "text/event-stream"
MAX_FIELD_BYTES = 64  # "data", "event", "id", "retry": a longer name is no event stream
MAX_HELD_VALUE_BYTES = 256  # an `event:`, `id:` or `retry:` value: a type name, never more
_FIELD_END = re.compile(rb"[:\r\n]")
_LINE_END = re.compile(rb"[\r\n]")
# An event's `type` before its `b64_json`: quotes inside a JSON string are escaped (\"), so
# this never matches text inside a value such as a revised prompt.
_TYPE = re.compile(rb'"type"\s*:\s*"([A-Za-z0-9_.\-]{1,100})"')
_HELD_FIELDS = frozenset({b"event", b"id", b"retry"})
_CR, _LF = 0x0D, 0x0A


def is_event_stream(content_type: str | None) -> bool:
    """Whether a reply's Content-Type says server-sent events (parameters ignored)."""
    return (content_type or "").split(";", 1)[0].strip().lower() == EVENT_STREAM


class Kind(Enum):
    PARTIAL = "partial"
    COMPLETED = "completed"
    ERROR = "error"
    OTHER = "other"


def kind_of(event_type: str | None) -> Kind:
    """What an event type means here; any type not listed is ignored (`in_progress`, ...)."""
    if event_type is None:
        return Kind.OTHER
    if event_type.endswith(".partial_image"):
        return Kind.PARTIAL
    if event_type.endswith(".completed"):
        return Kind.COMPLETED
    if event_type == "error" or event_type.endswith(".error") or event_type.endswith(".failed"):
        return Kind.ERROR
    return Kind.OTHER


class _Discard:
    """The sink of an image nobody wants (a late partial, an unknown event): bytes dropped."""

    async def write(self, chunk: bytes) -> None:
        return None


class _Preview:
    """A preview sink whose failures drop the frame instead of failing the call: the image is
    paid for whether or not a preview could be stored (issue #15's contract), so a broken
    preview is logged and the rest of its bytes discarded."""

    def __init__(self, sink: PreviewSink | None, ordinal: int) -> None:
        self._sink = sink
        self._ordinal = ordinal

    async def write(self, chunk: bytes) -> None:
        if self._sink is not None:
            try:
                await self._sink.write(chunk)
            except Exception as exc:
                self._drop("write", exc)

    async def finish(self, frame: int) -> None:
        if self._sink is not None:
            try:
                await self._sink.finish(frame)
            except Exception as exc:
                self._drop("finish", exc)

    async def abandon(self, why: str) -> None:
        """The frame is unusable (the service's fault, not the store's): it is not published,
        and the sink stays open for the next frame."""
        log.warning("a preview frame of image %d dropped: %s", self._ordinal, why)
        if self._sink is not None:
            try:
                await self._sink.abandon()
            except Exception as exc:
                self._drop("abandon", exc)

    def _drop(self, what: str, exc: Exception) -> None:
        # The type only: a storage error's text can carry a signed URL.
        log.warning(
            "preview of image %d dropped: its %s failed (%s)",
            self._ordinal,
            what,
            type(exc).__name__,
        )
        self._sink = None


async def _open_preview(previews: Previews, ordinal: int) -> _Preview:
    try:
        return _Preview(await previews.open(ordinal), ordinal)
    except Exception as exc:
        log.warning(
            "preview of image %d dropped: it could not be opened (%s)", ordinal, type(exc).__name__
        )
        return _Preview(None, ordinal)


class _Mode(Enum):
    FIELD = "field"  # reading a line's field name, up to ':' or the line's end
    SPACE = "space"  # just after ':', where one space is dropped
    VALUE = "value"


@dataclass
class _Event:
    """The event being read: its `event:` name, its data (inside `splitter`) and where its
    image went."""

    splitter: B64JsonSplitter
    name: str | None = None
    data_lines: int = 0
    routed: Kind | None = None  # set when its image's sink was opened
    # its image started before anything said its type: it went to the next final sink,
    # provisionally (a partial's bytes there are never committed: that sink is opened again)
    untyped: bool = False
    preview: _Preview | None = None
    final: int | None = None  # the ordinal of the final sink it opened


class SseImageReader:
    """Feed the event stream's bytes in order, then `finish()` for the images.

    `open_sink(ordinal)` receives each completed image (ordinal = completed events before it),
    `previews.open(ordinal)` each partial frame of the image still being made, finished with
    its `partial_image_index`. `images` is how many images the request asked for: once that
    many were completed the reader is `complete` and reads nothing more: what follows (a late
    partial, §4, an error, junk or a cut) cannot take back images that were paid for. A
    preview frame the reader cannot use (no index, invalid base64, broken JSON) is dropped and
    logged, never fails the call.
    `max_held` records the most bytes held between feeds, for the memory bound's tests.
    """

    def __init__(
        self,
        open_sink: OpenSink,
        previews: Previews | None = None,
        *,
        images: int = 1,
        status: int = 200,
    ) -> None:
        self._open_sink = open_sink
        self._previews = previews
        self._images = images
        self._status = status
        self._mode = _Mode.FIELD
        self._field = bytearray()
        self._value = bytearray()
        self._target: bytes | None = None  # the field whose value is being read
        self._in_data_line = False  # this `data:` line's value has begun (joined, counted)
        self._after_cr = False  # a line ended in CR: an LF opening the next chunk belongs to it
        self._event = self._new_event()
        self._done = False  # `data: [DONE]` was read: nothing after it counts
        self._ended = False  # `end()` was called: the input is over
        self.completed: list[GeneratedImage] = []
        self.max_held = 0

    @property
    def complete(self) -> bool:
        """Whether every image asked for has been completed: nothing after it is read."""
        return len(self.completed) >= self._images

    # ----------------------------------------------------------------- input
    async def feed(self, chunk: bytes) -> None:
        pos, size = 0, len(chunk)
        if self._after_cr and size:
            self._after_cr = False
            if chunk[0] == _LF:
                pos = 1
        while pos < size and not self._done and not self.complete:
            if self._mode is _Mode.FIELD:
                match = _FIELD_END.search(chunk, pos)
                end = match.start() if match else size
                self._field += chunk[pos:end]
                if len(self._field) > MAX_FIELD_BYTES:
                    raise invalid_body_error(self._status, "event stream field name too long")
                if match is None:
                    break
                if chunk[end] == ord(":"):
                    self._begin_value()
                    pos = end + 1
                else:
                    await self._end_line()
                    pos = self._past_line_end(chunk, end)
            elif self._mode is _Mode.SPACE:
                if chunk[pos] == ord(" "):
                    pos += 1
                self._mode = _Mode.VALUE
            else:
                match = _LINE_END.search(chunk, pos)
                end = match.start() if match else size
                if end > pos:
                    await self._value_bytes(chunk[pos:end])
                if match is None:
                    break
                await self._end_line()
                pos = self._past_line_end(chunk, end)
        held = len(self._field) + len(self._value) + self._event.splitter.held
        self.max_held = max(self.max_held, held)

    async def end(self) -> None:
        """The input is over (its end, or a broken connection): an event whose data arrived
        whole but whose closing blank line did not is dispatched all the same (the SSE rule
        would drop it; the completed image it carries was paid for). Anything else it was
        inside stays unfinished, for `finish` to refuse."""
        if self._ended or self._done or self.complete:
            return
        self._ended = True
        event = self._event
        if not event.data_lines or event.splitter.inside:
            return
        rest = event.splitter.rest()
        if event.routed is None and rest.strip() == b"[DONE]":
            self._done = True
            return
        try:
            payload = json.loads(rest)
        except (ValueError, UnicodeDecodeError):
            return  # cut inside its JSON: a broken event
        if not isinstance(payload, dict):
            return
        self._event = self._new_event()
        self._field.clear()
        self._value.clear()
        self._target = None
        self._in_data_line = False
        self._mode = _Mode.FIELD
        await self._handle(event, payload)

    async def finish(self) -> list[GeneratedImage]:
        """The completed images, once the whole stream was fed. A stream that stopped inside
        an event or before any image was completed is a broken call, worth a retry."""
        await self.end()
        if self.complete:
            return list(self.completed)
        inside = self._field or self._mode is not _Mode.FIELD or self._event.data_lines
        if inside and not self._done:
            raise ImageApiError(
                ErrorCode.UNAVAILABLE,
                "The image service's event stream ended inside an event "
                "(the connection closed before the image was complete).",
                status=self._status,
            )
        if not self.completed:
            raise ImageApiError(
                ErrorCode.UNAVAILABLE,
                "The image service's event stream ended without a completed image.",
                status=self._status,
            )
        return list(self.completed)

    # ----------------------------------------------------------------- lines
    def _past_line_end(self, chunk: bytes, end: int) -> int:
        if chunk[end] == _CR:
            if end + 1 < len(chunk):
                return end + 2 if chunk[end + 1] == _LF else end + 1
            self._after_cr = True
        return end + 1

    def _begin_value(self) -> None:
        name = bytes(self._field)
        self._mode = _Mode.SPACE
        if name == b"data" or name in _HELD_FIELDS:
            self._target = name
        else:  # a comment (":" opens the line) or a field this reader does not know
            self._target = None

    async def _value_bytes(self, value: bytes) -> None:
        if self._target == b"data":
            await self._data(value)
        elif self._target is not None:
            self._value += value
            if len(self._value) > MAX_HELD_VALUE_BYTES:
                raise invalid_body_error(self._status, "event stream line too long")

    async def _data(self, value: bytes) -> None:
        event = self._event
        if not self._in_data_line:
            self._in_data_line = True
            if event.data_lines:
                await event.splitter.feed(b"\n")  # data lines join with a line feed
            event.data_lines += 1
        if value:
            await event.splitter.feed(value)

    async def _end_line(self) -> None:
        name, value = bytes(self._field), bytes(self._value)
        target = self._target if self._mode is not _Mode.FIELD else name
        if self._mode is _Mode.FIELD and not name:
            await self._dispatch()  # a blank line ends the event
        elif target == b"data" and not self._in_data_line:
            await self._data(b"")  # an empty data line still counts (and joins)
        elif target == b"event":
            self._event.name = value.decode("utf-8", "replace").strip() or None
        self._field.clear()
        self._value.clear()
        self._target = None
        self._in_data_line = False
        self._mode = _Mode.FIELD

    # ----------------------------------------------------------------- events
    def _new_event(self) -> _Event:
        return _Event(splitter=B64JsonSplitter(self._open))

    async def _open(self, _index: int) -> ByteSink:
        """Where the current event's image goes, decided when its `b64_json` starts: by the
        `event:` line, else by the `type` read so far; an image whose type comes after it goes
        to the next final sink, provisionally. Only a final image is decoded strictly: any
        other (a preview, a discarded or provisional image) is skipped if it is not base64."""
        event = self._event
        if event.routed is not None:
            raise invalid_body_error(self._status, "an event carries more than one image")
        if event.name is not None:
            kind = kind_of(event.name)
        else:
            found = _TYPE.search(event.splitter.rest_so_far())
            event.untyped = found is None
            kind = Kind.COMPLETED if found is None else kind_of(found.group(1).decode())
        event.routed = kind
        ordinal = len(self.completed)
        if kind is Kind.COMPLETED and ordinal < self._images:
            event.final = ordinal
            event.splitter.lenient = event.untyped
            return await self._open_sink(ordinal)
        event.splitter.lenient = True
        if kind is Kind.PARTIAL and self._previews is not None and ordinal < self._images:
            event.preview = await _open_preview(self._previews, ordinal)
            return event.preview
        return _Discard()

    async def _dispatch(self) -> None:
        event, self._event = self._event, self._new_event()
        if not event.data_lines:
            return  # no data: nothing happened (the spec's rule for an empty event)
        rest = event.splitter.rest()
        if event.routed is None and rest.strip() == b"[DONE]":
            self._done = True
            return
        payload = await self._payload(rest, event)
        if payload is not None:
            await self._handle(event, payload)

    async def _handle(self, event: _Event, payload: dict[str, Any]) -> None:
        """What a whole event means: an error fails the call; a partial frame is published;
        a completed image is counted."""
        kind = event.routed
        if kind is None or event.untyped:  # untyped: its type said late (or never)
            declared = event.name if event.name is not None else payload.get("type")
            kind = kind_of(declared if isinstance(declared, str) else None)
        if kind is Kind.ERROR or payload.get("error"):
            raise classify_stream_error(payload, self._status)
        if kind is Kind.PARTIAL:
            await self._partial(event, payload)
        elif kind is Kind.COMPLETED:
            self._completed(event, payload)

    async def _partial(self, event: _Event, payload: dict[str, Any]) -> None:
        preview = event.preview
        if preview is None:
            return  # no previews, a late one, or one staged provisionally: not shown
        if event.splitter.invalid:
            await preview.abandon("its b64_json is not valid base64")
            return
        frame = payload.get("partial_image_index")
        if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
            await preview.abandon("no usable partial_image_index")
            return
        await preview.finish(frame)

    def _completed(self, event: _Event, payload: dict[str, Any]) -> None:
        if self.complete:  # only reachable by `feed`ing past it: never counted twice
            log.warning("a completed event past the %d image(s) asked for: ignored", self._images)
            return
        if event.final is None:
            raise invalid_body_error(self._status, "a completed event without b64_json")
        if event.splitter.invalid:  # a provisional image, after all the one paid for
            raise invalid_base64()
        revised = payload.get("revised_prompt")
        self.completed.append(
            GeneratedImage(
                streamed=event.final,
                revised_prompt=revised if isinstance(revised, str) else None,
            )
        )

    async def _payload(self, rest: bytes, event: _Event) -> dict[str, Any] | None:
        """The event's JSON object; None for a partial frame's that is not one (the frame is
        dropped: a preview never fails the call)."""
        try:
            payload = json.loads(rest)
        except (ValueError, UnicodeDecodeError):
            if event.routed is None and kind_of(event.name) is Kind.ERROR:
                text = safe_message(rest.decode("utf-8", "replace"))
                raise ImageApiError(
                    ErrorCode.UNAVAILABLE,
                    f"The image service reported an error in its event stream ({text}).",
                    status=self._status,
                ) from None
            payload = None
        if isinstance(payload, dict):
            return payload
        if self._is_partial(event):
            if event.preview is not None:
                await event.preview.abandon("its data is not a JSON object")
            else:
                log.warning("a partial image event without a JSON object: ignored")
            return None
        if payload is None:
            raise invalid_body_error(self._status, "invalid JSON in an event")
        raise invalid_body_error(self._status, "an event's data is not a JSON object")

    @staticmethod
    def _is_partial(event: _Event) -> bool:
        """Whether the event says it is a partial image (by its `event:` line or the type that
        routed its image): its data is looked at leniently."""
        name = kind_of(event.name) if event.name is not None else None
        return name is Kind.PARTIAL or (event.routed is Kind.PARTIAL and not event.untyped)
