"""Browser tests of the web app: Debian's Chromium driven by Playwright against Django's live
server (real PostgreSQL; the transactional test database).

One browser for the whole session; a fresh context (cookies) and page per test. Every page a test
opens is watched: each request must go to the live server's origin, and a Content-Security-Policy
violation fails the test. ``axe_check(page)`` injects axe-core (vendored for the tests) and fails
on any WCAG 2.2 A/AA violation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run in one
# unless told it may (the tests' own database calls are synchronous anyway).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
AXE = Path(__file__).resolve().parents[2] / "support" / "axe" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]

# Listen for CSP violations in every document before its own scripts run.
WATCH_CSP = """
document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + (e.blockedURI || 'inline') +
                ' at ' + e.sourceFile + ':' + e.lineNumber);
});
"""


@pytest.fixture(scope="session")
def browser_type_launch_args() -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium; make setup does it)")
    return {
        "executable_path": CHROMIUM,
        "headless": True,
        "args": [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_context_args,
        "locale": "en-GB",
        "timezone_id": "Europe/London",
        "viewport": {"width": 1280, "height": 900},
    }


class Watch:
    """What the pages of one test did: requests (by URL) and CSP violations."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.requests: list[str] = []
        self.violations: list[str] = []

    def foreign_requests(self) -> list[str]:
        expected = urlsplit(self.origin)
        return [
            url
            for url in self.requests
            if not url.startswith("data:") and urlsplit(url)[:2] != (expected.scheme, expected.netloc)
        ]


@pytest.fixture
def web(live_server, page) -> Iterator[tuple[Any, Watch]]:
    """(page, watch) on the live server: the test fails on a CSP violation or a request to
    another origin."""
    watch = Watch(live_server.url)
    page.add_init_script(WATCH_CSP)
    # Injected through the DevTools protocol, which the page's CSP does not govern (a <script>
    # added to the page would be refused, as it should be).
    page.add_init_script(path=str(AXE))
    page.on("request", lambda request: watch.requests.append(request.url))
    page.on(
        "console",
        lambda message: (
            watch.violations.append(message.text)
            if "CSP violation" in message.text or "Content Security Policy" in message.text
            else None
        ),
    )
    page.set_default_timeout(10_000)
    yield page, watch
    assert watch.violations == [], "CSP violations:\n" + "\n".join(watch.violations)
    assert watch.foreign_requests() == [], "requests to another origin"


def axe_check(page: Any, *, context: str = "") -> None:
    """axe-core on the page as it is now: no WCAG 2.2 A/AA violation."""
    page.wait_for_load_state()
    violations = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations"
        ".map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))",
        WCAG_TAGS,
    )
    assert violations == [], f"axe ({context or page.url}):\n" + json.dumps(violations, indent=2)


def sign_in(page: Any, base_url: str, username: str, password: str, *, next_path: str = "") -> None:
    """Sign in through the sign-in page, as a person does."""
    page.goto(f"{base_url}/login/" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The browser tests run last: their live server flushes the database afterwards (the
    content migrations loaded goes with it), and Playwright's event loop stays open in this
    thread until the session ends (``asyncio.run`` refuses to start under it)."""
    browser = [item for item in items if "tests/web/browser/" in str(item.path)]
    if browser:
        items[:] = [item for item in items if item not in browser] + browser
