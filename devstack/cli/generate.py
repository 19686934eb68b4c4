"""``python -m devstack generate "a badger wearing a tuxedo"``: one job, from prompt to file.

Talks to a running stack over plain HTTP (the same API a user or Power Automate calls) or, when
nothing answers at the default address, starts one for the duration of the command. It shows the
job's progress, then prints each stored image's blob name and read-only SAS URL and saves a copy
under ./generated-images/. Nothing secret is printed beyond that SAS URL, which is the result.
"""

from __future__ import annotations

import mimetypes
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import httpx

from devstack.host.keys import FUNCTION_KEY_SETTING, KEY_HEADER
from devstack.host.settings import local_settings_values
from devstack.stack import DEFAULT_HOST_PORT, REPO_ROOT, Stack

DEFAULT_BASE_URL = f"http://127.0.0.1:{DEFAULT_HOST_PORT}"
POLL_SECONDS = 0.5
BAR_WIDTH = 24


class GenerateError(RuntimeError):
    """The job could not be submitted or did not succeed; the message says why."""


def answers(base_url: str) -> bool:
    """Does an app answer at this base URL? Any HTTP reply counts."""
    try:
        httpx.get(f"{base_url.rstrip('/')}/api/images/devstack-probe", timeout=3)
    except httpx.TransportError:
        return False
    return True


def progress_line(status: dict[str, Any]) -> str:
    progress = status.get("progress") or {}
    stage = progress.get("stage") or status.get("status") or "pending"
    total = int(progress.get("images_total") or 0)
    done = int(progress.get("images_done") or 0)
    filled = int(BAR_WIDTH * done / total) if total else 0
    bar = "#" * filled + "-" * (BAR_WIDTH - filled)
    line = f"[{bar}] {stage:<12} images {done}/{total or '?'}"
    attempts = int(progress.get("attempts") or 0)
    if attempts > 1:
        line += f"  attempt {attempts}"
    return line


def _extension(content_type: str) -> str:
    if content_type == "image/jpeg":
        return ".jpg"
    return mimetypes.guess_extension(content_type) or ".bin"


def _error_text(response: httpx.Response) -> str:
    try:
        error = response.json().get("error") or {}
    except ValueError:
        return f"HTTP {response.status_code}"
    where = f" (field {error['field']})" if error.get("field") else ""
    return f"{error.get('code', response.status_code)}: {error.get('message', '')}{where}"


def submit_and_wait(
    client: httpx.Client,
    api_url: str,
    body: dict[str, Any],
    *,
    timeout: float,
    show: Callable[[str], None],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST the job (with ``headers``: the function key when the stack enforces keys), follow
    its signed status link, which needs no key, until it finishes; return the result body."""
    r = client.post(f"{api_url}/images", json=body, headers=headers)
    if r.status_code not in (200, 202):
        raise GenerateError(f"the job was refused: {_error_text(r)}")
    accepted = r.json()
    status_url = accepted.get("statusQueryGetUri") or r.headers.get("Location")
    if not status_url:
        raise GenerateError("the API answered without a status URL")
    show(f"job {accepted['id']}")
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        s = client.get(status_url)
        if s.status_code == 200:
            return dict(s.json())
        if s.status_code != 202:
            raise GenerateError(f"the job failed: {_error_text(s)}")
        line = progress_line(s.json())
        if line != last:
            show(line)
            last = line
        if time.monotonic() > deadline:
            raise GenerateError(f"the job did not finish within {timeout:.0f}s")
        time.sleep(POLL_SECONDS)


def save_images(
    client: httpx.Client, result: dict[str, Any], out_dir: Path, out: TextIO
) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: list[Path] = []
    for index, image in enumerate(result.get("images") or []):
        data = client.get(image["url"])
        data.raise_for_status()
        path = out_dir / f"{result['id']}-{index}{_extension(image.get('content_type', ''))}"
        path.write_bytes(data.content)
        saved.append(path)
        size = f"{image.get('width')}x{image.get('height')}" if image.get("width") else "?"
        print(f"image {index}: {size}, {len(data.content)} bytes", file=out)
        print(f"  blob   {image['blob']}", file=out)
        print(f"  url    {image['url']}", file=out)
        print(f"  file   {path.resolve()}", file=out)
        if image.get("revised_prompt"):
            print(f"  revised prompt: {image['revised_prompt']}", file=out)
    return saved


def run(
    prompt: str,
    *,
    model: str | None = None,
    n: int | None = None,
    size: str | None = None,
    base_url: str | None = None,
    out_dir: Path = Path("generated-images"),
    data_dir: Path = Path(".devstack-data"),
    timeout: float = 600.0,
    out: TextIO = sys.stdout,
) -> int:
    body: dict[str, Any] = {"prompt": prompt}
    for key, value in (("model", model), ("n", n), ("size", size)):
        if value is not None:
            body[key] = value
    target = (base_url or DEFAULT_BASE_URL).rstrip("/")
    stack: Stack | None = None
    if not answers(target):
        if base_url is not None:
            print(f"nothing answers at {target}; is the stack running (make start)?", file=out)
            return 2
        print("no running stack found; starting one for this command…", file=out, flush=True)
        stack = Stack(data_dir, app_dir=REPO_ROOT, persist_storage=True).start()
        target = stack.base_url
    bar_on_tty = out.isatty()

    def show(line: str) -> None:
        if bar_on_tty and line.startswith("["):
            print(f"\r{line}", end="", file=out, flush=True)
        else:
            print(line, file=out, flush=True)

    try:
        with httpx.Client(timeout=60) as client:
            result = submit_and_wait(
                client, f"{target}/api", body, timeout=timeout, show=show, headers=_key_header()
            )
            if bar_on_tty:
                print(file=out)
            show(progress_line({"progress": {"stage": "done", **_counts(result)}}))
            if bar_on_tty:
                print(file=out)
            save_images(client, result, out_dir, out)
        if stack is not None:
            print(
                "note: the stack started for this command stops now, so the URL above stops"
                " answering; the saved file and the blob (under the data dir) remain.",
                file=out,
            )
        return 0
    except GenerateError as exc:
        print(f"\n{exc}", file=out)
        return 1
    finally:
        if stack is not None:
            stack.stop()


def _key_header() -> dict[str, str]:
    """``x-functions-key`` when the devstack enforces keys (DEVSTACK_FUNCTION_KEY in the
    environment or local.settings.json), as a caller on Azure sends it."""
    key = os.environ.get(FUNCTION_KEY_SETTING) or local_settings_values(REPO_ROOT).get(
        FUNCTION_KEY_SETTING
    )
    return {KEY_HEADER: key} if key else {}


def _counts(result: dict[str, Any]) -> dict[str, int]:
    images = len(result.get("images") or [])
    return {"images_done": images, "images_total": images}
