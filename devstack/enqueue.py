"""Put an image request on the requests queue, encoded the way the Functions host reads it.

    python -m devstack.enqueue '{"prompt": "a badger wearing a tuxedo", "id": "badger-1"}'
    python -m devstack.enqueue --file batch.jsonl          # one JSON request per line

The Functions queue trigger expects base64 message text (host.json messageEncoding) and the v12
Storage SDK sends raw text unless given ``TextBase64EncodePolicy``; this is the one-liner that gets
it right. The connection comes from ``--connection-string``, else ``AzureWebJobsStorage``, else
Azurite's default ports (``UseDevelopmentStorage=true``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

from shared.blueprints.queue_trigger import MESSAGE_MAX_BYTES, PAYLOAD_MAX_BYTES, stored_size

DEFAULT_QUEUE = "image-requests"


def encoded_client(connection_string: str, queue: str) -> QueueClient:
    """A queue client whose messages a Functions queue trigger (base64 encoding) can read."""
    return QueueClient.from_connection_string(
        connection_string,
        queue,
        message_encode_policy=TextBase64EncodePolicy(),
        message_decode_policy=TextBase64DecodePolicy(),
    )


def _messages(args: argparse.Namespace) -> Iterator[str]:
    if args.message is not None:
        yield args.message
    if args.file is not None:
        lines: Iterable[str] = (
            sys.stdin if str(args.file) == "-" else args.file.read_text("utf-8").splitlines()
        )
        for line in lines:
            if line.strip():
                yield line.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.enqueue", description=__doc__)
    parser.add_argument(
        "message", nargs="?", help="the request JSON (same body as POST /api/images)"
    )
    parser.add_argument(
        "--file", type=Path, help="a file of JSON requests, one per line (- = stdin)"
    )
    parser.add_argument(
        "--queue",
        default=os.environ.get("IMAGE_REQUESTS_QUEUE") or DEFAULT_QUEUE,
        help="queue name (default: $IMAGE_REQUESTS_QUEUE or image-requests)",
    )
    parser.add_argument(
        "--connection-string",
        default=os.environ.get("AzureWebJobsStorage") or "UseDevelopmentStorage=true",  # noqa: SIM112
        help="Storage connection string (default: $AzureWebJobsStorage, else local Azurite)",
    )
    parser.add_argument(
        "--no-check",
        action="store_true",
        help="send even if the text is not a JSON object (to try the poison queue)",
    )
    args = parser.parse_args(argv)
    if args.message is None and args.file is None:
        parser.error("give the request JSON or --file")
    client = encoded_client(args.connection_string, args.queue)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    sent = 0
    for text in _messages(args):
        job_id = None
        if not args.no_check:
            try:
                data = json.loads(text)
            except ValueError as exc:
                print(f"not JSON ({exc}); use --no-check to send it anyway", file=sys.stderr)
                return 2
            if not isinstance(data, dict):
                print("not a JSON object; use --no-check to send it anyway", file=sys.stderr)
                return 2
            job_id = data.get("id")
        size = stored_size(text)
        if size > MESSAGE_MAX_BYTES:
            # Storage would refuse it (RequestBodyTooLarge): say so in the sender's terms.
            print(
                f"message is {size} bytes once base64-encoded; Azure Storage accepts at most "
                f"{MESSAGE_MAX_BYTES} (about {PAYLOAD_MAX_BYTES} bytes of UTF-8 text)",
                file=sys.stderr,
            )
            return 2
        message = client.send_message(text)
        job_id = job_id or f"q-{message.id}"
        print(json.dumps({"queue": args.queue, "message_id": message.id, "job_id": job_id}))
        sent += 1
    return 0 if sent else 1


if __name__ == "__main__":
    raise SystemExit(main())
