"""Queue triggers against Azurite: base64 messages, retries with dequeue_count, poison queue."""

from __future__ import annotations

import base64
import json
import time
import uuid

from azure.storage.queue import QueueClient


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _send(sample_host, text: str) -> None:
    client = QueueClient.from_connection_string(
        sample_host.connection_string, sample_host.queue_name
    )
    client.send_message(text)


def _collect(conn: str, queue: str, want, *, timeout: float = 30.0) -> list:
    """Read (and delete) messages from ``queue`` until ``want(found)`` holds, or fail."""
    client = QueueClient.from_connection_string(conn, queue)
    found: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            for m in client.receive_messages(messages_per_page=32, visibility_timeout=60):
                found.append(m.content)
                client.delete_message(m)
        except Exception as exc:  # queue not created yet
            if "QueueNotFound" not in str(exc):
                raise
        if want(found):
            return found
        time.sleep(0.1)
    raise AssertionError(f"not seen on {queue} within {timeout}s; saw {found}")


def _reports(sample_host, queue: str, body: str, count: int) -> list[dict]:
    seen: list[dict] = []

    def want(raw: list[str]) -> bool:
        seen[:] = [r for r in (json.loads(x) for x in raw) if r["body"] == body]
        return len(seen) >= count

    _collect(sample_host.connection_string, queue, want)
    return seen


def test_base64_message_is_decoded_delivered_once_and_deleted(sample_host):
    body = f"hello queue {uuid.uuid4()}"
    _send(sample_host, _b64(body))
    done = _reports(sample_host, "sample-done", body, 1)
    assert done == [{"body": body}]
    attempts = _reports(sample_host, "sample-attempts", body, 1)
    assert [a["dequeue_count"] for a in attempts] == [1]
    queue = QueueClient.from_connection_string(
        sample_host.connection_string, sample_host.queue_name
    )
    assert body not in [_decode(m.content) for m in queue.peek_messages(max_messages=32)]


def _decode(text: str) -> str:
    try:
        return base64.b64decode(text).decode()
    except Exception:
        return text


def test_failing_message_is_retried_then_moved_to_poison_unchanged(sample_host):
    body = f"fail {uuid.uuid4()}"
    _send(sample_host, _b64(body))
    poison = _collect(
        sample_host.connection_string,
        f"{sample_host.queue_name}-poison",
        lambda found: _b64(body) in found,
    )
    assert _b64(body) in poison
    attempts = _reports(sample_host, "sample-attempts", body, 3)
    # maxDequeueCount is 3 in the sample host.json: three tries, each seeing its dequeue count.
    assert sorted(a["dequeue_count"] for a in attempts) == [1, 2, 3]
    assert len({a["id"] for a in attempts}) == 1


def test_message_that_is_not_base64_goes_to_poison_without_running_the_function(sample_host):
    body = f"not base64 {uuid.uuid4()}!"
    _send(sample_host, body)
    poison = _collect(
        sample_host.connection_string,
        f"{sample_host.queue_name}-poison",
        lambda found: body in found,
    )
    assert body in poison
    # Every attempt would have reported before the move to poison: there is none.
    attempts = QueueClient.from_connection_string(sample_host.connection_string, "sample-attempts")
    reported = [json.loads(m.content)["body"] for m in attempts.peek_messages(max_messages=32)]
    assert body not in reported


def test_a_slow_message_does_not_hold_up_the_queue(sample_host):
    slow, quick = f"slow {uuid.uuid4()}", f"quick {uuid.uuid4()}"
    _send(sample_host, _b64(slow))
    _reports(sample_host, "sample-attempts", slow, 1)  # the slow one is running now
    _send(sample_host, _b64(quick))
    assert _reports(sample_host, "sample-done", quick, 1) == [{"body": quick}]
    QueueClient.from_connection_string(
        sample_host.connection_string, "sample-release"
    ).send_message(slow)
    assert _reports(sample_host, "sample-done", slow, 1) == [{"body": slow}]
