"""The Content-Security-Policy in a real browser: the pages that are not the portal's own (the
Django admin, Swagger UI and Redoc) work under it with nothing from another origin, and the
policy really refuses what it should. Every browser test also fails on any violation (conftest).
"""

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import Page, expect

from records.models import SourceSystem
from tests.browser.conftest import PASSWORD
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


SUPERUSER_KEY = "62726f777365722d73757065722d6b65792d3031"


@pytest.fixture
def superuser(page: Page):
    """A superuser with an authenticator, and one source system for the admin to show."""
    user = UserFactory(username="superuser", is_staff=True, is_superuser=True)
    user.set_password(PASSWORD)
    user.save()
    TOTPDevice.objects.create(user=user, name="phone", key=SUPERUSER_KEY, confirmed=True)
    SourceSystem.objects.create(
        ods_code="RRV",
        name="Riverside Hospital",
        kind="acute",
        base_url="http://127.0.0.1:8101/fhir",
    )
    return user


def test_the_django_admin_works_under_the_policy(superuser, sign_in):
    page = sign_in("superuser", totp_key=SUPERUSER_KEY)
    page.goto("/admin/")
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    page.goto("/admin/records/sourcesystem/")
    page.get_by_role("link", name="Riverside Hospital").click()
    expect(page.get_by_label("FHIR base URL")).to_have_value("http://127.0.0.1:8101/fhir")
    page.goto("/admin/records/patient/")
    page.goto("/admin/access/team/add/")
    expect(page.get_by_label("Name")).to_be_visible()
    # The admin's own scripts ran (its sidebar toggle is added by nav_sidebar.js).
    expect(page.locator("#toggle-nav-sidebar")).to_be_attached()


def test_swagger_ui_shows_the_api_from_this_origin_only(page: Page, live_server):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/v1/docs/")
    expect(page.get_by_text("Shared care record API").first).to_be_visible()
    expect(page.get_by_text("/api/v1/fhir/Patient", exact=True).first).to_be_visible()
    assert all(url.startswith((live_server.url, "data:")) for url in requested), requested


REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


def test_redoc_shows_the_api_from_this_origin_only(page: Page, live_server, csp_violations):
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto("/api/v1/redoc/")
    expect(page.get_by_role("heading", name="patient_search")).to_be_visible()
    page.get_by_role("textbox", name="Search").fill("relationship")  # its search worker runs
    expect(page.get_by_role("menuitem", name="relationship_create").first).to_be_visible()
    # Redoc's footer always asks for its maker's logo; the policy refuses it, and nothing else.
    elsewhere = [
        url for url in requested if not url.startswith((live_server.url, "data:", "blob:"))
    ]
    assert elsewhere == [REDOC_LOGO]
    assert csp_violations and all(REDOC_LOGO in text for text in csp_violations), csp_violations
    csp_violations.clear()


def test_the_policy_refuses_an_inline_script_and_says_so(page: Page, csp_violations):
    page.goto("/sign-in/")
    page.evaluate(
        """() => { const script = document.createElement("script");
                   script.textContent = "window.injected = true"; document.body.append(script); }"""
    )
    assert page.evaluate("window.injected") is None
    assert any("script-src" in text for text in csp_violations), csp_violations
    csp_violations.clear()  # seen, as it should be: the test passes


def test_the_policy_refuses_an_inline_style_and_says_so(page: Page, csp_violations):
    page.goto("/sign-in/")
    page.evaluate(
        """() => { const style = document.createElement("style");
                   style.textContent = "body { display: none }"; document.head.append(style); }"""
    )
    assert page.evaluate("getComputedStyle(document.body).display") != "none"
    assert any("style-src" in text for text in csp_violations), csp_violations
    csp_violations.clear()


def test_nhsuk_frontends_own_first_script_still_runs(page: Page):
    page.goto("/sign-in/")
    assert "js-enabled" in page.evaluate("document.body.className")
    assert "nhsuk-frontend-supported" in page.evaluate("document.body.className")
