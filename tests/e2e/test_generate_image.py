"""The issue's "Done when": a prompt over real HTTP becomes a stored image with the right bytes."""

from __future__ import annotations

import re
import socket
import subprocess
import sys

import httpx

from devstack.emulator.images import render
from devstack.stack import REPO_ROOT

from .conftest import wait_for_result

BADGER = "a badger wearing a tuxedo"


def test_badger_prompt_becomes_a_stored_image(stack):
    with httpx.Client(timeout=30) as client:
        r = client.post(f"{stack.api_url}/images", json={"prompt": BADGER})
        assert r.status_code == 202, r.text
        accepted = r.json()
        assert r.headers["Location"] == accepted["statusQueryGetUri"]
        assert "runtime/webhooks" not in r.text  # no Durable management URLs (system key)

        done = wait_for_result(client, accepted["statusQueryGetUri"])
        assert done.status_code == 200, done.text
        result = done.json()
        assert result["status"] == "succeeded"
        assert result["prompt"] == BADGER
        [image] = result["images"]
        assert image["content_type"] == "image/png"
        assert accepted["id"] in image["blob"]

        blob = httpx.get(image["url"], timeout=30)  # the SAS URL, no credentials of our own
        assert blob.status_code == 200
    assert blob.content == render(BADGER, 1024, 1024, 0, "png")
    assert image["bytes"] == len(blob.content)
    # No signature in the host's log: the app does not log signed URLs, and the host scrubs any
    # that a library would (tests/integration/host/test_logs.py).
    log = stack.host_process.output_tail
    assert re.search(r"sig=(?!REDACTED)", log) is None


def test_unknown_job_is_404_and_bad_request_names_the_field(stack):
    with httpx.Client(timeout=30) as client:
        assert client.get(f"{stack.api_url}/images/0123456789abcdef").status_code == 404
        r = client.post(f"{stack.api_url}/images", json={"prompt": BADGER, "n": 0})
        assert r.status_code == 400
        assert r.json()["error"]["field"] == "n"


def _generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devstack", "generate", *args, "--timeout", "60"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_generate_command_against_the_running_stack(stack, tmp_path):
    prompt = "a badger wearing a tuxedo, in the rain"
    out_dir = tmp_path / "images"
    run = _generate(prompt, "--base-url", stack.base_url, "--out-dir", str(out_dir))
    assert run.returncode == 0, run.stdout + run.stderr
    blob = re.search(r"blob\s+(\S+)", run.stdout)
    assert blob is not None, run.stdout
    assert blob.group(1).endswith(".png")
    path = re.search(r"file\s+(\S+)", run.stdout)
    assert path is not None, run.stdout
    files = list(out_dir.iterdir())
    assert [str(f.resolve()) for f in files] == [path.group(1)]
    assert files[0].read_bytes() == render(prompt, 1024, 1024, 0, "png")
    assert "images 1/1" in run.stdout


def test_generate_command_reports_a_refused_request_and_saves_nothing(stack, tmp_path):
    out_dir = tmp_path / "images"
    run = _generate(BADGER, "--n", "0", "--base-url", stack.base_url, "--out-dir", str(out_dir))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "refused" in run.stdout
    assert "(field n)" in run.stdout
    assert not out_dir.exists()


def test_generate_command_says_when_nothing_answers(tmp_path):
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = _generate(BADGER, "--base-url", f"http://127.0.0.1:{port}")
    assert run.returncode == 2
    assert "nothing answers" in run.stdout
