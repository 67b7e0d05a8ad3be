"""The demo's journey in Chromium, as `make run` gives it: sign in through the simulated CIS2
(its pages, a smartcard), land in the mapped team, then press "Shared care record" in the
simulated clinical system: the record opens on that patient, and on an unrelated one the ordinary
404. Sign-out ends the session at the provider too.
"""

import datetime
import re

import pytest
from joserfc.jwk import RSAKey
from playwright.sync_api import Page, expect

from access import services
from access.models import ClinicalSystem, IdentityProvider, RoleMapping, Team
from demo.clinical_system import SimulatedClinicalSystem
from demo.identity_provider import RegisteredClient, demo_role_codes
from tests.browser.conftest import REPORT_CSP_VIOLATIONS, is_csp_violation
from tests.factories import PatientFactory, UserFactory, make_team
from tests.oidc_provider import running_provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLIENT_ID = "lcr-browser.apps.national"


@pytest.fixture
def demo_world(live_server, population, settings):
    """The portal registered with a simulated CIS2 and a simulated clinical system, both on
    loopback; the practice's team cares for the example patient and not for the next one."""
    key = RSAKey.generate_key(2048, private=True)
    settings.LCR_OIDC_PRIVATE_KEY = key.as_pem(private=True).decode()
    settings.LCR_PASSWORD_SIGN_IN = "off"
    portal = live_server.url
    client = RegisteredClient(
        client_id=CLIENT_ID,
        redirect_uris=[f"{portal}/sign-in/cis2/callback/"],
        post_logout_redirect_uris=[f"{portal}/sign-in/?signed-out"],
        backchannel_logout_uri=f"{portal}/oidc/cis2/backchannel-logout/",
        jwks_uri=f"{portal}/oidc/jwks.json",
    )
    system = SimulatedClinicalSystem(population, portal_url=portal, client_id="scr-browser")
    with running_provider("cis2", clients=[client], population=population) as cis2, system:
        provider = IdentityProvider.objects.create(
            slug="cis2", name="NHS CIS2 (simulated)", issuer=cis2.issuer, client_id=CLIENT_ID,
            scopes="openid profile email nationalrbacaccess selectedrole", acr_values="AAL3_ANY",
        )  # fmt: skip
        organisation = demo_role_codes(population)["gp"][0][0]
        practice = make_team("The practice", Team.Kind.GP_PRACTICE, ods_code=organisation)
        RoleMapping.objects.create(
            provider=provider, organisation=organisation, rbac_code="R8000", team=practice,
            role="gp",
        )  # fmt: skip
        ClinicalSystem.objects.create(
            name="Riverside EMIS (simulated)", issuer=system.base_url, client_id="scr-browser"
        )
        example, stranger = population.people[0], population.people[1]
        cared_for = PatientFactory(nhs_number=example.nhs_number, family_name="Newton")
        PatientFactory(nhs_number=stranger.nhs_number)
        services.start_relationship(
            patient=cared_for, team=practice, kind="registered_gp", reason="registered here",
            actor=UserFactory(username="demo-admin"), starts_on=datetime.date.today(),
        )  # fmt: skip
        yield {"cis2": cis2, "system": system, "patient": cared_for}


@pytest.fixture
def journey(browser, live_server, demo_world):
    """A browser that may reach the portal, the provider and the clinical system (all loopback)
    and nothing else, with the Content-Security-Policy watched on the portal's pages."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    allowed = (live_server.url, demo_world["cis2"].origin, demo_world["system"].address)
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(allowed)
            else route.abort("blockedbyclient")
        ),
    )
    violations: list[str] = []
    context.on(
        "console",
        lambda message: violations.append(message.text) if is_csp_violation(message.text) else None,
    )
    yield context
    context.close()
    assert not violations, "\n".join(violations)


def sign_in_with_cis2(page: Page, live_server) -> None:
    page.goto(f"{live_server.url}/sign-in/")
    page.get_by_role("button", name="Sign in with NHS CIS2 (simulated)").click()
    expect(page.get_by_text("SIMULATION of NHS CIS2")).to_be_visible()
    page.get_by_label("Username").fill("gp")
    page.get_by_label("Password", exact=True).fill("demo-gp-2026")
    page.get_by_label("Smartcard (AAL3)").check()
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.wait_for_url(f"{live_server.url}/")


def press_shared_care_record(page: Page, system, row: int) -> Page:
    """The clinician's button in their clinical system: it opens the record in a new tab."""
    page.goto(system.address + "/")
    with page.context.expect_page() as opened:
        page.get_by_role("button", name="Shared care record").nth(row).click()
    record = opened.value
    record.wait_for_load_state()
    return record


def test_the_demo_journey_signs_in_through_cis2_and_launches_from_the_clinical_system(
    journey, live_server, demo_world, check_page
):
    page = journey.new_page()
    sign_in_with_cis2(page, live_server)
    expect(page.get_by_text("Grace Okafor", exact=True)).to_be_visible()  # the provider's name
    expect(page.get_by_text("Acting for")).to_be_visible()

    record = press_shared_care_record(page, demo_world["system"], 0)
    patient = demo_world["patient"]
    expect(record).to_have_url(re.compile(rf"/patients/{patient.pk}/$"))
    expect(record.get_by_role("heading", level=1)).to_contain_text("NEWTON")

    unrelated = press_shared_care_record(page, demo_world["system"], 1)
    expect(unrelated.get_by_role("heading", level=1)).to_have_text("Page not found")

    record.get_by_role("button", name="Sign out").click()  # here, then at the provider
    record.wait_for_url(re.compile(rf"^{live_server.url}/sign-in/\?signed-out&state="))
    expect(record.get_by_text("You have signed out")).to_be_visible()
    record.goto(f"{live_server.url}/")
    expect(record).to_have_url(re.compile(r"/sign-in/\?next=/$"))


def test_the_sign_in_pages_pass_axe(journey, live_server, demo_world):
    from tests.browser.conftest import axe_violations

    page = journey.new_page()
    page.goto(f"{live_server.url}/sign-in/")
    assert not axe_violations(page)
    demo_world["cis2"].fault_next_token("wrong-signature")
    page.get_by_role("button", name="Sign in with NHS CIS2 (simulated)").click()
    page.get_by_label("Username").fill("gp")
    page.get_by_label("Password", exact=True).fill("demo-gp-2026")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You have not been signed in")
    assert not axe_violations(page)
