"""The playground (`GET /api/ui`) as a person uses it, in Chromium, against the whole devstack.

Generate with live previews and download the result; the same by keyboard alone; the API's own
error messages (a 400 naming a field, a job the content filter fails); cancel a throttled job;
the recent-jobs gallery; an edit of a result; what must not happen (a second job from a repeated
Ctrl+Enter, a passing 503 ending a job, a stale Cancel, a previous job's result left on screen).
Every wait is a Playwright deadline (or an httpx poll against one), never a sleep.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, Route, expect

from devstack.stack import Stack

from ..conftest import wait_for_result

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# 2 partial images: frames at ~2.7 s and ~5.3 s, the image at 8 s; nothing is timed against it,
# it only keeps the job running long enough to be looked at while it runs
PREVIEW_LATENCY_S = 8
SLOW_S = 6  # a job that is still running when the page opens it
FILTER_WORD = "forbiddenfruit"
LOADED = "img => img.complete && img.naturalWidth > 0"

Configure = Callable[[dict[str, Any]], None]


def unique(text: str) -> str:
    return f"{text} {uuid.uuid4().hex[:6]}"


def prompt_box(page: Page) -> Locator:
    return page.get_by_label("Prompt", exact=True)


def result_images(page: Page) -> Locator:
    return page.locator("#result-images img")


def wait_loaded(page: Page, image: Locator) -> None:
    """The image has arrived and decoded (not just an <img> with a src)."""
    expect(image).to_be_visible()
    page.wait_for_function(LOADED, arg=image.element_handle())


def alert_message(page: Page) -> Locator:
    return page.get_by_role("alert").locator(".alert-message")


def cancel_button(page: Page) -> Locator:
    return page.get_by_role("button", name="Cancel", exact=True)


def is_status_link(url: str) -> bool:
    """A job's signed status link itself (not its images or previews below it)."""
    return re.search(r"/api/status/[^/?]+\?", url) is not None


# A preview shown, decoded, while the job's result is not: both read at the same instant.
PREVIEW_WHILE_RUNNING = """() => {
  const img = document.querySelector("#previews img");
  return !!img && img.complete && img.naturalWidth > 0
    && /^Preview of image 1 \\(frame \\d\\)$/.test(img.alt)
    && document.getElementById("result").hidden;
}"""


def test_the_page_and_its_assets_are_served_with_their_headers_and_nothing_else(stack: Stack):
    with httpx.Client(timeout=30) as client:
        page = client.get(f"{stack.api_url}/ui")
        slash = client.get(f"{stack.api_url}/ui/")  # the page's relative assets would break
        script = client.get(f"{stack.api_url}/ui/app.js")
        style = client.get(f"{stack.api_url}/ui/app.css")
        # the host decodes %2F inside a route parameter: the name is "../function_app.py"
        escapes = [
            client.get(f"{stack.api_url}/ui/..%2Ffunction_app.py"),
            client.get(f"{stack.api_url}/ui/..%2F..%2Fhost.json"),
            client.get(f"{stack.api_url}/ui/%2e%2e"),
            client.get(f"{stack.api_url}/ui/index.html"),
            client.get(f"{stack.api_url}/ui/app.py"),
        ]
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Image playground</title>" in page.text
    assert slash.status_code == 308
    assert slash.headers["location"] == "/api/ui"
    assert script.headers["content-type"].startswith("text/javascript")
    assert style.headers["content-type"].startswith("text/css")
    for answer in (page, script, style):
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    for answer in escapes:
        assert answer.status_code == 404, answer.request.url
        assert "function_app" not in answer.text
        assert "extensionBundle" not in answer.text


def test_generate_shows_progress_previews_and_a_final_image_to_download(
    stack: Stack, emulator_config: Configure, playground: Page, artifacts: Path
):
    emulator_config({"latency_seconds": PREVIEW_LATENCY_S})
    page = playground
    prompt = unique("a badger wearing a tuxedo")
    prompt_box(page).fill(prompt)
    page.get_by_role("button", name="Generate").click()

    expect(page.get_by_role("status")).to_contain_text("Stage:")
    expect(cancel_button(page)).to_be_visible()
    # the person goes back to the prompt while the job runs: the job's end leaves focus there
    prompt_box(page).focus()
    # A frame of the streamed render, shown (and decoded) while the result is not there yet.
    page.wait_for_function(PREVIEW_WHILE_RUNNING)
    expect(page.get_by_role("group", name="Previews")).to_be_visible()
    page.screenshot(path=str(artifacts / "playground-preview.png"))

    final = result_images(page)
    expect(final).to_have_count(1)
    wait_loaded(page, final.first)
    expect(page.get_by_role("status")).to_contain_text("completed")
    expect(prompt_box(page)).to_be_focused()
    expect(cancel_button(page)).to_be_hidden()
    expect(page.get_by_role("img", name=re.compile("^Preview of image"))).to_have_count(0)

    with page.expect_download() as info:
        page.get_by_role("link", name="Download").click()
    download = info.value
    saved = Path(download.path())
    assert saved.read_bytes()[:8] == PNG_MAGIC
    assert download.suggested_filename.endswith(".png")

    # the gallery holds the job, with a thumbnail of its image
    page.get_by_role("button", name="Refresh").click()
    card = page.locator(".job-card", has_text=prompt)
    expect(card).to_have_count(1)
    wait_loaded(page, card.locator("img"))
    expect(card).to_contain_text("succeeded")
    page.screenshot(path=str(artifacts / "playground.png"), full_page=True)


def test_the_whole_path_by_keyboard_alone(stack: Stack, playground: Page):
    page = playground
    keyboard = page.keyboard
    keyboard.press("Tab")  # the first control of the page is the prompt
    expect(prompt_box(page)).to_be_focused()
    prompt = unique("a heron in the fog")
    keyboard.type(prompt)
    keyboard.press("Tab")
    expect(page.get_by_label("Model")).to_be_focused()
    keyboard.press("Shift+Tab")
    keyboard.press("Control+Enter")

    # Ctrl+Enter from the prompt: the job's end does not take the person out of the prompt
    expect(page.locator("#result-meta")).to_contain_text(prompt)
    wait_loaded(page, result_images(page).first)
    expect(prompt_box(page)).to_be_focused()

    # Generate is reachable by Tab and works with Enter too; from Generate focus goes to the
    # result when the job ends
    second = unique("a heron at dawn")
    keyboard.press("ControlOrMeta+a")
    keyboard.type(second)
    for _ in range(30):  # the form's controls, then the button: a bounded walk
        keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "generate":
            break
    expect(page.get_by_role("button", name="Generate")).to_be_focused()
    keyboard.press("Enter")
    expect(page.locator("#result-meta")).to_contain_text(second)
    final = result_images(page)
    expect(final).to_have_count(1)
    wait_loaded(page, final.first)
    expect(page.locator("#result-heading")).to_be_focused()

    keyboard.press("Tab")  # from the result's heading to its first action
    download = page.get_by_role("link", name="Download")
    expect(download).to_be_focused()
    with page.expect_download() as info:
        keyboard.press("Enter")
    assert Path(info.value.path()).read_bytes()[:8] == PNG_MAGIC


def test_a_refused_request_shows_the_apis_message_and_field(
    stack: Stack, playground: Page, allow_failed_load: Callable[[str], None]
):
    allow_failed_load(f"{stack.api_url}/images")  # the 400 the test provokes
    page = playground
    body = {"prompt": "a badger", "model": "gpt-image-2", "size": "1000x1000"}
    with httpx.Client(timeout=30) as client:
        answer = client.post(f"{stack.api_url}/images", json=body)  # a 400 starts nothing
    assert answer.status_code == 400, answer.text
    error = answer.json()["error"]
    assert error["field"] == "size"

    prompt_box(page).fill(body["prompt"])
    page.get_by_label("Custom size (WxH)").fill(body["size"])
    page.get_by_role("button", name="Generate").click()
    alert = page.get_by_role("alert")
    expect(alert_message(page)).to_have_text(error["message"])
    expect(alert).to_contain_text("HTTP 400 invalid_request")
    expect(alert.locator(".alert-field code")).to_have_text("size")
    expect(alert).to_be_focused()
    expect(result_images(page)).to_have_count(0)


def test_a_job_the_content_filter_fails_shows_the_jobs_error(
    stack: Stack,
    emulator_config: Configure,
    playground: Page,
    allow_failed_load: Callable[[str], None],
):
    allow_failed_load(f"{stack.api_url}/status/")  # the failed job's 422
    emulator_config({"content_filter_words": [FILTER_WORD]})
    page = playground
    prompt_box(page).fill(unique(f"a {FILTER_WORD} on a plate"))
    page.get_by_role("button", name="Generate").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("HTTP 422 content_filter")
    expect(alert).to_be_focused()
    expect(page.get_by_role("status")).to_contain_text("failed")

    # exactly what the job's status link answers
    with httpx.Client(timeout=30) as client:
        [job] = client.get(f"{stack.api_url}/images", params={"top": 1}).json()["value"]
        failed = client.get(job["statusQueryGetUri"])
    assert failed.status_code == 422
    expect(alert_message(page)).to_have_text(failed.json()["error"]["message"])


def test_cancel_a_throttled_job(
    stack: Stack,
    emulator_config: Configure,
    playground: Page,
    allow_failed_load: Callable[[str], None],
):
    allow_failed_load(f"{stack.api_url}/status/")  # the canceled job's 422
    emulator_config({"error_rate_429": 1.0, "error_429_retry_after_seconds": 30})
    page = playground
    prompt_box(page).fill(unique("a tortoise in no hurry"))
    page.get_by_role("button", name="Generate").click()
    status = page.get_by_role("status")
    expect(status).to_contain_text("waiting_to_retry")
    expect(status).to_contain_text(re.compile(r"waiting \d+s \(throttled\)"))
    expect(status).to_contain_text("Last error:")

    cancel_button(page).click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("HTTP 422 job_canceled")
    expect(alert_message(page)).to_contain_text("the job was canceled")
    expect(status).to_contain_text("canceled")
    expect(cancel_button(page)).to_be_hidden()


def test_a_gallery_item_opens_its_job(stack: Stack, playground: Page):
    page = playground
    prompt = unique("a lighthouse at night")
    with httpx.Client(timeout=30) as client:  # a job started elsewhere, finished
        started = client.post(f"{stack.api_url}/images", json={"prompt": prompt})
        assert started.status_code == 202, started.text
        done = wait_for_result(client, started.json()["statusQueryGetUri"])
    assert done.status_code == 200, done.text
    page.get_by_role("button", name="Refresh").click()
    card = page.locator(".job-card", has_text=prompt)
    expect(card).to_have_count(1)
    expect(card).to_contain_text("succeeded")
    thumb = card.locator("img")
    wait_loaded(page, thumb)
    expect(thumb).to_have_attribute("loading", "lazy")
    card.click()
    expect(page.locator("#result-meta")).to_contain_text(prompt)
    wait_loaded(page, result_images(page).first)
    # the job's running time is the job's own (created → completed), not since the click
    expect(page.locator("#progress-detail")).to_contain_text(re.compile(r"^took \d+\.\d s$"))

    # a refresh keeps the card (and its loaded <img>) of a job whose status did not change
    thumb.evaluate("img => { img.dataset.kept = 'yes'; }")
    with page.expect_response(lambda r: "/api/images?top=" in r.url):
        page.get_by_role("button", name="Refresh").click()
    expect(card.locator("img")).to_have_attribute("data-kept", "yes")


def test_opening_a_gallery_job_shows_only_that_job(
    stack: Stack, emulator_config: Configure, playground: Page
):
    page = playground
    first = unique("a fox in the snow")
    prompt_box(page).fill(first)
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#result-meta")).to_contain_text(first)
    wait_loaded(page, result_images(page).first)

    emulator_config({"latency_seconds": SLOW_S})
    second = unique("an owl at noon")
    with httpx.Client(timeout=30) as client:  # started elsewhere, still running when opened
        started = client.post(f"{stack.api_url}/images", json={"prompt": second})
    assert started.status_code == 202, started.text
    page.get_by_role("button", name="Refresh").click()
    card = page.locator(".job-card", has_text=second)
    expect(card).to_have_count(1)
    card.click()
    # the first job's result is gone at once, not when the second one ends
    expect(page.locator("#result")).to_be_hidden()
    expect(result_images(page)).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_text("")
    expect(cancel_button(page)).to_be_visible()

    expect(page.locator("#result-meta")).to_contain_text(second)
    expect(page.locator("#result-meta")).not_to_contain_text(first)
    expect(result_images(page)).to_have_count(1)
    wait_loaded(page, result_images(page).first)
    expect(page.locator("#previews figure")).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_text("")


def test_ctrl_enter_pressed_twice_starts_one_job(stack: Stack, playground: Page):
    page = playground
    api = stack.api_url
    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    held: list[Route] = []

    def hold_posts(route: Route) -> None:  # keeps the first POST in flight while keys go on
        if route.request.method == "POST":
            held.append(route)
        else:
            route.continue_()

    page.route(f"{api}/images", hold_posts)
    prompt_box(page).fill(unique("a hare that hurries"))
    prompt_box(page).press("Control+Enter")
    deadline = time.monotonic() + 10
    while not held:  # each round trip lets Playwright hand the held request to the handler
        assert time.monotonic() < deadline, "the first POST never came"
        page.evaluate("0")
    expect(page.get_by_role("button", name="Generate")).to_be_disabled()
    prompt_box(page).press("Control+Enter")  # a second press while the first is in flight
    page.keyboard.down("Control")
    page.keyboard.down("Enter")
    page.keyboard.down("Enter")  # held down: a key repeat
    page.keyboard.up("Enter")
    page.keyboard.up("Control")
    page.evaluate("0")
    for route in list(held):
        route.continue_()

    wait_loaded(page, result_images(page).first)
    page.unroute(f"{api}/images")
    assert posts == [f"{api}/images"], posts
    assert len(held) == 1


def test_a_passing_status_error_does_not_end_the_job(
    stack: Stack, playground: Page, allow_failed_load: Callable[[str], None]
):
    allow_failed_load(f"{stack.api_url}/status/")  # the one 503 injected below
    page = playground
    injected: list[str] = []

    def one_unavailable(route: Route) -> None:
        if injected:
            route.continue_()
            return
        injected.append(route.request.url)
        route.fulfill(
            status=503,
            headers={"Retry-After": "1", "Cache-Control": "no-store"},
            content_type="application/json",
            body=json.dumps({"error": {"code": "unavailable", "message": "try again"}}),
        )

    page.route(is_status_link, one_unavailable)
    prompt = unique("a kite in a gust")
    prompt_box(page).fill(prompt)
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#result-meta")).to_contain_text(prompt)
    wait_loaded(page, result_images(page).first)
    expect(page.get_by_role("status")).to_contain_text("completed")
    expect(page.get_by_role("alert")).to_have_text("")
    assert len(injected) == 1


def test_a_refused_new_job_leaves_no_stale_cancel(
    stack: Stack,
    emulator_config: Configure,
    playground: Page,
    allow_failed_load: Callable[[str], None],
):
    allow_failed_load(f"{stack.api_url}/images")  # the 400 of the second request
    emulator_config({"latency_seconds": SLOW_S})
    page = playground
    prompt_box(page).fill(unique("a snail on a wall"))
    page.get_by_role("button", name="Generate").click()
    expect(cancel_button(page)).to_be_visible()

    page.get_by_label("Custom size (WxH)").fill("1000x1000")  # refused: not a valid size
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("alert")).to_contain_text("HTTP 400 invalid_request")
    expect(page.get_by_role("status")).to_have_text("Not started.")
    expect(cancel_button(page)).to_be_hidden()


def test_the_page_works_from_a_trailing_slash(stack: Stack, page: Page):
    page.goto(f"{stack.api_url}/ui/")
    expect(page).to_have_url(f"{stack.api_url}/ui")
    expect(page.get_by_label("Model")).to_have_value("gpt-image-2")  # the script ran
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()
    # the stylesheet applied: the panels have their border radius
    radius = page.locator(".panel").first.evaluate("p => getComputedStyle(p).borderRadius")
    assert radius == "10px"


@pytest.mark.parametrize("model", ["gpt-image-2"])
def test_edit_a_result(stack: Stack, playground: Page, model: str):
    page = playground
    prompt = unique("a badger in a field")
    prompt_box(page).fill(prompt)
    page.get_by_label("Model").select_option(model)
    page.get_by_role("button", name="Generate").click()
    wait_loaded(page, result_images(page).first)

    page.get_by_role("button", name="Edit this image").click()
    edit = page.get_by_label("Edit prompt")
    expect(edit).to_be_focused()
    edit_prompt = unique("make it winter")
    edit.fill(edit_prompt)
    page.get_by_role("button", name="Apply edit").click()
    expect(page.locator("#result-meta")).to_contain_text(edit_prompt)
    wait_loaded(page, result_images(page).first)
    expect(page.get_by_role("alert")).to_have_text("")


def test_the_function_key_rides_in_a_header_of_keyed_calls_only(
    stack: Stack,
    emulator_config: Configure,
    playground: Page,
    allow_failed_load: Callable[[str], None],
):
    allow_failed_load(f"{stack.api_url}/status/")  # the canceled edit's 422
    page = playground
    key = f"key-{uuid.uuid4().hex}"
    seen: list[tuple[str, str, str | None]] = []
    page.on(
        "request",
        lambda r: seen.append((r.method, r.url, r.headers.get("x-functions-key"))),
    )
    page.get_by_text("Function key").first.click()  # opens the <details>
    key_field = page.get_by_label("Function key")
    expect(key_field).to_have_attribute("autocomplete", "new-password")
    key_field.fill(key)
    key_field.press("Enter")  # applies the key (models and jobs load again), starts no job
    expect(page.get_by_label("Model")).to_have_value("gpt-image-2")
    expect(page.get_by_role("status")).to_have_text("No job yet.")
    prompt_box(page).fill(unique("a key on a string"))
    page.get_by_role("button", name="Generate").click()
    wait_loaded(page, result_images(page).first)
    assert page.evaluate("sessionStorage.getItem('imagePlayground.functionKey')") == key

    # an edit (POST /images/edits), kept waiting by a throttled model, then canceled (DELETE)
    emulator_config({"error_rate_429": 1.0, "error_429_retry_after_seconds": 30})
    page.get_by_role("button", name="Edit this image").click()
    page.get_by_label("Edit prompt").fill(unique("make it gold"))
    page.get_by_role("button", name="Apply edit").click()
    cancel_button(page).click()
    expect(page.get_by_role("alert")).to_contain_text("HTTP 422 job_canceled")

    api = stack.api_url
    posts = {u for m, u, _ in seen if m == "POST"}
    assert posts == {f"{api}/images", f"{api}/images/edits"}, posts
    deletes = [(u, k) for m, u, k in seen if m == "DELETE"]
    assert len(deletes) == 1
    assert re.fullmatch(rf"{re.escape(api)}/images/[^/?]+", deletes[0][0]), deletes
    keyed = [
        (m, u, k)
        for m, u, k in seen
        if u.split("?")[0] in {f"{api}/models", f"{api}/images", f"{api}/images/edits"}
        or (m == "DELETE" and u.startswith(f"{api}/images/"))
    ]
    signed = [(m, u, k) for m, u, k in seen if u.startswith(f"{api}/status/")]
    assert {m for m, _, _ in keyed} == {"GET", "POST", "DELETE"}
    assert all(k == key for _, _, k in keyed), keyed
    assert signed
    assert all(k is None for _, _, k in signed), signed
    assert not [u for _, u, _ in seen if key in u]

    page.reload()  # the same tab keeps it, in the field too
    expect(page.get_by_label("Function key")).to_have_value(key)


def test_a_401_opens_the_key_field_and_focuses_it(
    stack: Stack, playground: Page, allow_failed_load: Callable[[str], None]
):
    api = stack.api_url
    allow_failed_load(f"{api}/images")
    page = playground

    def refuse(route: Route) -> None:  # as the Functions host without a key: an empty 401
        if route.request.method == "POST":
            route.fulfill(status=401, body="")
        else:
            route.continue_()

    page.route(f"{api}/images", refuse)
    expect(page.locator("#key-details")).not_to_have_attribute("open", "")
    prompt_box(page).fill("a badger")
    page.get_by_role("button", name="Generate").click()
    expect(page.get_by_role("alert")).to_contain_text("HTTP 401")
    expect(page.locator("#key-details")).to_have_attribute("open", "")
    expect(page.get_by_label("Function key")).to_be_focused()


BLOCK_STORAGE = """Object.defineProperty(window, "sessionStorage", {
  configurable: true,
  get() { throw new DOMException("storage is blocked", "SecurityError"); },
});"""


def test_blocked_storage_leaves_the_page_working(stack: Stack, page: Page):
    page.add_init_script(BLOCK_STORAGE)
    page.goto(f"{stack.api_url}/ui")
    probe = "(() => { try { sessionStorage.length; return 'open' } catch (e) { return e.name } })()"
    assert page.evaluate(probe) == "SecurityError"
    expect(page.get_by_label("Model")).to_have_value("gpt-image-2")
    expect(page.get_by_role("button", name="Generate")).to_be_enabled()
    key = f"key-{uuid.uuid4().hex}"
    page.get_by_text("Function key").first.click()
    page.get_by_label("Function key").fill(key)
    with page.expect_request(lambda r: r.url.endswith("/api/models")) as models:
        page.get_by_label("Function key").press("Enter")
    assert models.value.headers.get("x-functions-key") == key  # kept in the page
    prompt = unique("a badger behind glass")
    prompt_box(page).fill(prompt)
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("#result-meta")).to_contain_text(prompt)
    assert key not in page.url
