"""The playground in a real browser: Debian's Chromium driven by Playwright's sync API.

Playwright's own browser download is not reachable from these machines, so the tests launch the
system Chromium (`make test` and `make e2e` install it: the Makefile's `/usr/bin/chromium` rule).
One browser per test module, a fresh context (cookies, sessionStorage, downloads) per test. Every
console error the page logs — a Content-Security-Policy violation above all — fails the test,
except Chromium's "Failed to load resource" for a preview link (a preview is gone, 404, once the
final image is stored) and for the URLs a test says it expects an error answer from
(`allow_failed_load`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from devstack.stack import REPO_ROOT, Stack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts"
TIMEOUT_MS = 30_000  # one job on the devstack takes a few seconds; a deadline, not a sleep


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Module-scoped on purpose: the sync API runs its own event loop on this thread while it
    is open, and the async tests that follow (pytest-asyncio's session loop) cannot run then."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium package")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


PREVIEW_LINK = "/previews/"


@pytest.fixture
def expected_failures() -> list[str]:
    """URL fragments whose error answers (a 4xx or 5xx the test provokes) the page may log."""
    return []


@pytest.fixture
def allow_failed_load(expected_failures: list[str]) -> Callable[[str], None]:
    """`allow_failed_load(fragment)`: the test expects an error answer from URLs holding it."""
    return expected_failures.append


@pytest.fixture
def page(browser: Browser, expected_failures: list[str]) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    expect.set_options(timeout=TIMEOUT_MS)
    p = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = str(message.location.get("url", ""))
        if "Failed to load resource" in message.text and (
            PREVIEW_LINK in url or any(fragment in url for fragment in expected_failures)
        ):
            return
        problems.append(f"{message.text} [{url}]")

    p.on("console", on_console)
    p.on("pageerror", lambda exc: problems.append(f"uncaught: {exc}"))
    try:
        yield p
    finally:
        context.close()
    assert not problems, f"the page logged errors: {problems}"


@pytest.fixture
def playground(stack: Stack, page: Page) -> Page:
    """The page, opened on the stack, with its models loaded."""
    page.goto(f"{stack.api_url}/ui")
    expect(page.get_by_label("Model")).to_have_value("gpt-image-2")
    return page


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
