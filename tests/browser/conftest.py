"""Browser tests: Playwright driving Debian's Chromium (never a browser Playwright downloads)
against pytest-django's live server, with axe-core (from npm) checking each page.

Reusable by any browser test: `page` (a fresh browser context on the live server), `sign_in`
(through the real sign-in and two-factor pages), `check_page` (axe, then a screenshot).

The Content-Security-Policy is enforced as in production, and every test fails if the browser
reported a violation of it on any page the test opened (`csp_violations`).
"""

import datetime
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django_otp.oath import TOTP
from playwright.sync_api import Browser, Page, sync_playwright
from playwright.sync_api import Error as PlaywrightError

CHROMIUM = os.environ.get("LCR_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
AXE = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "test-output" / "screenshots"
# WCAG 2.2 AA and what comes before it; best-practice rules are reported but not counted.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Playwright's sync API runs an asyncio loop in this thread while the browser is open, and
    # Django refuses ORM calls from a thread with a running loop; the test's own setup (users,
    # patients) is ordinary synchronous code, so that check is lifted for the browser tests.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    if previous is None:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


# Every page reports what its Content-Security-Policy refused to the console, as the browser does
# itself: the event carries what was refused and by which directive.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.effectiveDirective} refused ${event.blockedURI || "inline"}`
    + ` at ${event.sourceFile || event.documentURI}:${event.lineNumber}`);
});
"""


def is_csp_violation(text: str) -> bool:
    """A console message the browser (or REPORT_CSP_VIOLATIONS) writes for a refused resource."""
    return text.startswith("CSP violation:") or "Content Security Policy" in text


@pytest.fixture
def csp_violations() -> list[str]:
    """What the Content-Security-Policy refused on the pages opened so far (the console's words)."""
    return []


@pytest.fixture
def page(browser: Browser, live_server, csp_violations) -> Iterator[Page]:
    """A fresh context (no cookies) on the live server; anything off this machine is refused,
    so a test can never depend on the network (NHS.UK's web fonts fall back to Arial). After
    the test, no page it opened may have broken the Content-Security-Policy."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    local = (live_server.url, "data:", "blob:")
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(local)
            else route.abort("blockedbyclient")
        ),
    )
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            csp_violations.append(message.text) if is_csp_violation(message.text) else None
        ),
    )
    yield page
    context.close()
    assert not csp_violations, "\n".join(csp_violations)


def totp_code(hex_key: str) -> str:
    return f"{TOTP(bytes.fromhex(hex_key)).token():06d}"


@pytest.fixture
def sign_in(page: Page) -> Callable[..., Page]:
    """sign_in(username, password=PASSWORD, totp_key=None): through the sign-in page, and the
    two-factor page when the user's role needs it; returns the page, on the page they reach."""

    def sign_in_as(username: str, password: str = PASSWORD, totp_key: str | None = None) -> Page:
        page.goto("/sign-in/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        if totp_key is not None:
            page.get_by_label("Security code").fill(totp_code(totp_key))
            page.get_by_role("button", name="Continue").click()
            page.wait_for_load_state()
        return page

    return sign_in_as


def axe_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical violations of WCAG 2.2 AA on the page as it is now.

    axe is run as the browser's developer tools run a script (the page's Content-Security-Policy
    rightly refuses an inline <script>, which is what add_script_tag would add)."""
    page.evaluate(AXE.read_text())
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    return [v for v in results["violations"] if v["impact"] in ("serious", "critical")]


def screenshot(page: Page, path: Path, *, full_page: bool = False) -> None:
    """A screenshot to `path`. Chromium sometimes cannot capture just after the viewport
    changed (at both sizes), on a busy machine: then once more, when it has drawn the new size."""
    try:
        page.screenshot(path=str(path), full_page=full_page)
    except PlaywrightError as exc:
        if "Unable to capture screenshot" not in str(exc):
            raise
        page.wait_for_timeout(500)
        page.screenshot(path=str(path), full_page=full_page)


@pytest.fixture
def check_page(page: Page) -> Callable[[str], None]:
    """check_page(name): a full-page screenshot under var/test-output/screenshots, then no
    serious or critical accessibility violations."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def check(name: str) -> None:
        screenshot(page, SCREENSHOTS / f"{name}.png", full_page=True)
        violations = axe_violations(page)
        assert not violations, "\n".join(
            f"{v['id']} ({v['impact']}): {v['help']} at "
            + ", ".join(str(node["target"]) for node in v["nodes"][:5])
            for v in violations
        )

    return check


def fill_date(page: Page, legend: str, day: datetime.date) -> None:
    """Type a date into the three boxes (day, month, year) of the NHS.UK date input `legend`."""
    group = page.get_by_role("group", name=legend)
    group.get_by_label("Day").fill(str(day.day))
    group.get_by_label("Month").fill(str(day.month))
    group.get_by_label("Year").fill(str(day.year))
