"""Queue triggers against Azurite: base64 messages, retries with dequeue_count, poison queue."""

from __future__ import annotations

import base64
import json
import time
import uuid

from azure.storage.queue import QueueClient


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _send(sample_host, text: str) -> str:
    """Put ``text`` on the trigger's queue; the message's id."""
    client = QueueClient.from_connection_string(
        sample_host.connection_string, sample_host.queue_name
    )
    return str(client.send_message(text).id)


def _drained(sample_host, *, timeout: float = 30.0) -> None:
    """Until the trigger's queue holds nothing, invisible (received, not deleted) ones included:
    a peek would not show those."""
    client = QueueClient.from_connection_string(
        sample_host.connection_string, sample_host.queue_name
    )
    deadline = time.monotonic() + timeout
    while client.get_queue_properties().approximate_message_count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{sample_host.queue_name} was not drained within {timeout}s")
        time.sleep(0.1)


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


def _all_reports(sample_host, queue: str, body: str) -> list[dict]:
    """Every report about ``body`` on ``queue`` now (read and deleted), however many."""
    client = QueueClient.from_connection_string(sample_host.connection_string, queue)
    found: list[dict] = []
    try:
        for m in client.receive_messages(messages_per_page=32, visibility_timeout=60):
            report = json.loads(m.content)
            client.delete_message(m)
            if report["body"] == body:
                found.append(report)
    except Exception as exc:  # no report was ever sent there
        if "QueueNotFound" not in str(exc):
            raise
    return found


def _host_log_line(sample_host, text: str, *, timeout: float = 10.0) -> str:
    """The host's log line that contains ``text`` (the output is read by a thread: poll)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [ln for ln in sample_host.process.output_tail.splitlines() if text in ln]
        if lines:
            return lines[-1]
        if time.monotonic() > deadline:
            raise AssertionError(f"no host log line with {text!r} within {timeout}s")
        time.sleep(0.1)


def test_base64_message_is_decoded_delivered_once_and_deleted(sample_host):
    body = f"hello queue {uuid.uuid4()}"
    _send(sample_host, _b64(body))
    done = _reports(sample_host, "sample-done", body, 1)
    assert done == [{"body": body}]
    # Deleted: gone from the queue, not merely hidden. Once it is gone, every run has reported.
    _drained(sample_host)
    attempts = _all_reports(sample_host, "sample-attempts", body)
    assert [a["dequeue_count"] for a in attempts] == [1]


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


def test_message_that_is_not_base64_goes_to_poison_at_once_without_running_the_function(
    sample_host,
):
    body = f"not base64 {uuid.uuid4()}!"
    message_id = _send(sample_host, body)
    poison = _collect(
        sample_host.connection_string,
        f"{sample_host.queue_name}-poison",
        lambda found: body in found,
    )
    assert body in poison
    _drained(sample_host)
    # Moved on its first dequeue, not after maxDequeueCount (3) tries: no retry can decode it.
    line = _host_log_line(sample_host, f"message {message_id}")
    assert "(dequeue count 1) cannot be decoded" in line
    assert f"moving it to {sample_host.queue_name}-poison" in line
    # The function would have reported each run before the original was deleted: none did.
    assert _all_reports(sample_host, "sample-attempts", body) == []


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
