"""A patient's journey in Chromium: "Continue with NHS login" on the portal, the simulated NHS
login's pages (marked as a simulation), then their own pages: who has looked at their record (the
GP's look, by name, role and organisation), a question about that look, and an objection after
the page that explains it; each page checked with axe. Sign-out ends the session.
"""

import datetime

import pytest
from joserfc.jwk import RSAKey
from playwright.sync_api import expect

from access import services
from access.models import IdentityProvider, Objection, Role, Team
from audit.models import PatientQuestion
from audit.services import RequestContext, record_access
from demo.identity_provider import RegisteredClient, demo_users
from tests.browser.conftest import (
    REPORT_CSP_VIOLATIONS,
    SCREENSHOTS,
    axe_violations,
    is_csp_violation,
    screenshot,
)
from tests.factories import PatientFactory, UserFactory, make_team, member
from tests.oidc_provider import running_provider

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CLIENT_ID = "lcr-browser-nhs-login"


@pytest.fixture
def patient_world(live_server, population, settings):
    key = RSAKey.generate_key(2048, private=True)
    settings.LCR_OIDC_PRIVATE_KEY = key.as_pem(private=True).decode()
    client = RegisteredClient(
        client_id=CLIENT_ID,
        redirect_uris=[f"{live_server.url}/your-record/sign-in/callback/"],
        jwks_uri=f"{live_server.url}/oidc/jwks.json",
    )
    with running_provider("nhs-login", clients=[client], population=population) as nhs_login:
        IdentityProvider.objects.create(
            slug="nhs-login", name="NHS login (simulated)", issuer=nhs_login.issuer,
            client_id=CLIENT_ID, scopes="openid profile nhs_number email", for_patients=True,
        )  # fmt: skip
        person = next(u for u in demo_users("nhs-login", population) if u.username == "patient")
        born = datetime.date.fromisoformat(person.birthdate)
        patient = PatientFactory(
            nhs_number=person.nhs_number, given_names=person.given_name,
            family_name=person.family_name, birth_date=born,
        )  # fmt: skip
        practice = make_team("Church Street Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
        gp = member(practice, Role.GP, "g.okafor")
        gp.first_name, gp.last_name = "Grace", "Okafor"
        gp.save()
        services.start_relationship(
            patient=patient, team=practice, kind="registered_gp", reason="registered",
            actor=UserFactory(username="office"),
        )  # fmt: skip
        record_access(
            user=gp, team=practice, role=Role.GP, patient=patient, categories=("allergies",),
            resource_ids=["a1"], basis="relationship", relationship_id=None,
            break_glass_id=None, channel="web", purpose="direct_care", context=RequestContext(),
        )  # fmt: skip
        yield {"nhs_login": nhs_login, "patient": patient}


def test_a_patient_signs_in_sees_who_looked_asks_and_objects(browser, live_server, patient_world):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    allowed = (live_server.url, patient_world["nhs_login"].origin)
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
    page = context.new_page()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def check(name: str) -> None:
        screenshot(page, SCREENSHOTS / f"patient-{name}.png", full_page=True)
        found = axe_violations(page)
        assert not found, [(v["id"], v["help"]) for v in found]

    page.goto("/your-record/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "See who has looked at your shared care record"
    )
    check("sign-in")
    page.get_by_role("button", name="Continue with NHS login (simulated)").click()
    expect(page.get_by_role("note")).to_contain_text("SIMULATION of NHS login")
    page.get_by_label("Username").fill("patient")
    page.get_by_label("Password", exact=True).fill("demo-patient-2026")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Your shared care record")
    check("home")
    page.get_by_role("link", name="Who has looked at your record").click()
    looks = page.locator("#looks")
    expect(looks).to_contain_text("Grace Okafor")
    expect(looks).to_contain_text("GP, Church Street Surgery")
    expect(looks).not_to_contain_text("g.okafor")
    check("looks")

    page.get_by_role("link", name="Ask about this look").click()
    page.get_by_label("Your question").fill("I do not know this doctor. Why did they look?")
    check("ask")
    page.get_by_role("button", name="Send your question").click()
    expect(page.get_by_text("Waiting for an answer")).to_be_visible()
    check("questions")
    assert PatientQuestion.objects.get().text.startswith("I do not know this doctor")

    page.goto("/your-record/sharing/")
    page.get_by_role("button", name="Object to sharing your record").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Are you sure")
    expect(page.locator("main")).to_contain_text("emergency access")
    check("object")
    page.get_by_role("button", name="Object to sharing my record").click()
    expect(page.get_by_text("You have objected to sharing your record")).to_be_visible()
    check("sharing-objected")
    assert Objection.objects.get(patient=patient_world["patient"]).recorded_by_patient

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "See who has looked at your shared care record"
    )
    page.goto("/your-record/who-has-looked/")
    expect(page).to_have_url(
        f"{live_server.url}/your-record/sign-in/?next=%2Fyour-record%2Fwho-has-looked%2F"
    )
    context.close()
    assert not violations, "\n".join(violations)
