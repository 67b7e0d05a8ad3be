"""Every form of the portal speaks NHS.UK: no browser bubbles (`novalidate` on every form, no
`required` attributes), and whatever is sent, empty or junk, an error summary at the top, plain
English on the field, "Error: " in the title, and never a 500.

The forms are a table (FORMS): a form added to the portal is added there, with what it takes
empty and as junk.
"""

import datetime
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access import services
from access.models import Role, Team
from audit.patient_questions import ask_about_look
from tests.factories import PatientFactory, UserFactory, a_look, make_team, member
from tests.patient_helpers import sign_in_as_patient

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# Long, with control characters and letters beyond ASCII: storable, but no form takes it.
JUNK = "\x01\x07\x1b<b>é" + "x" * 5000 + "\x7f"
DJANGO_WORDS = ("This field is required.", "Enter a valid date.", "Select a valid choice")


def _form_tags(html: str) -> list[str]:
    return re.findall(r"<form\b[^>]*>", html)


def _required_attributes(html: str) -> list[str]:
    """Attributes that would bring the browser's own "Please fill out this field." bubble."""
    return re.findall(r"<(?:input|select|textarea)\b[^>]*\srequired\b[^>]*>", html) + re.findall(
        r"""["']required["']\s*:""", html
    )


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_every_form_in_every_template_has_novalidate_and_asks_for_no_bubbles(path):
    text = path.read_text()
    assert [tag for tag in _form_tags(text) if "novalidate" not in tag] == []
    assert _required_attributes(text) == []


def _title_block(text: str) -> str | None:
    found = re.search(r"{% block title %}(.*?){% endblock %}", text, flags=re.S)
    return found.group(1) if found else None


@pytest.mark.parametrize("path", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: p.name)
def test_every_page_title_ends_with_the_service_s_name(path):
    title = _title_block(path.read_text())
    if title is None:
        return
    assert title.endswith(("Shared care record", "Your shared care record")), title
    assert "Error: " not in title  # base.html says it, from the forms on the page


# The forms, and a world that has something in each.


@dataclass(frozen=True)
class FormCase:
    """One form: where it is sent, by whom, what it takes empty and as junk. `empty` is None
    where sending nothing is a fair request (filters that all may be left out)."""

    name: str
    url: Callable[[dict], str]
    who: str
    junk: dict[str, str]
    empty: dict[str, str] | None = field(default_factory=dict)
    method: str = "post"
    settings: dict = field(default_factory=dict)


def _date(name: str, day: str, month: str, year: str) -> dict[str, str]:
    return {f"{name}_day": day, f"{name}_month": month, f"{name}_year": year}


FORMS = [
    FormCase(
        "sign in with a password",
        lambda w: reverse("login"),
        "nobody",
        {"username": JUNK, "password": JUNK},
    ),
    FormCase(
        "two-factor security code",
        lambda w: reverse("two-factor"),
        "half signed in",
        {"token": JUNK},
    ),
    FormCase("choose a team", lambda w: reverse("choose-team"), "admin", {"team": str(2**63)}),
    FormCase(
        "how patients see you",
        lambda w: reverse("account-shown-to-patients"),
        "doctor",
        {"shown": JUNK},
        settings={"LCR_STAFF_MAY_BE_SHOWN_BY_ROLE": True},
    ),
    FormCase(
        "find a patient to manage",
        lambda w: reverse("manage-find-patient"),
        "admin",
        {"nhs_number": JUNK},
    ),
    FormCase(
        "record a care relationship",
        lambda w: reverse("manage-patient", kwargs={"patient_id": w["patient"].pk}),
        "admin",
        {
            "team": str(2**63),
            "username": JUNK,
            "kind": "friendship",
            "reason": JUNK,
            **_date("starts_on", "31", "2", "2026"),
            **_date("ends_on", "soon", "\x01", JUNK),
        },
    ),
    FormCase(
        "end a care relationship",
        lambda w: reverse(
            "manage-end-relationship", kwargs={"relationship_id": w["relationship"].pk}
        ),
        "admin",
        {"reason": JUNK},
    ),
    FormCase(
        "record an objection",
        lambda w: reverse("manage-record-objection", kwargs={"patient_id": w["patient"].pk}),
        "admin",
        {"notes": JUNK},
    ),
    FormCase(
        "add someone to a team",
        lambda w: reverse("manage-team-members", kwargs={"team_id": w["team"].pk}),
        "admin",
        {"username": JUNK, "role": "king", "reason": JUNK},
    ),
    FormCase(
        "end a membership",
        lambda w: reverse("manage-end-membership", kwargs={"membership_id": w["membership"].pk}),
        "admin",
        {"reason": JUNK},
    ),
    FormCase(
        "find a patient (clinical search)",
        lambda w: reverse("patient-search"),
        "doctor",
        {"nhs_number": JUNK, "family_name": JUNK, **_date("birth_date", "0", "0", "0")},
        empty={"nhs_number": "", "family_name": "", "given_name": "", "postcode": ""},
        method="get",
    ),
    FormCase(
        "emergency access",
        lambda w: reverse("break-glass"),
        "doctor",
        {
            "nhs_number": JUNK,
            **_date("birth_date", "1", "", "1954"),
            "reason": "boredom",
            "explanation": JUNK,
        },
    ),
    FormCase(
        "find a patient for an access report",
        lambda w: reverse("audit-find-patient"),
        "privacy",
        {"nhs_number": "", "family_name": JUNK, "birth_date": "soon"},
    ),
    FormCase(
        "access report filters",
        lambda w: reverse("audit-access-report", kwargs={"patient_id": w["patient"].pk}),
        "privacy",
        {"since": "soon", **_date("until", "99", "99", "99999"), "user": str(2**70)},
        empty=None,
        method="get",
    ),
    FormCase(
        "record a subject access request",
        lambda w: reverse("audit-subject-access-request", kwargs={"patient_id": w["patient"].pk}),
        "privacy",
        {
            "requested_by": "a stranger",
            "requester_name": JUNK,
            **_date("received_on", "1", "1", "2999"),
            "format": "exe",
            "sent_to": JUNK,
        },
    ),
    FormCase(
        "emergency access queue filters",
        lambda w: reverse("audit-review-queue"),
        "privacy",
        {"state": JUNK, "started_from": "32/13/2026", "organisation": JUNK, "user": JUNK},
        empty=None,
        method="get",
    ),
    FormCase(
        "review an emergency access",
        lambda w: reverse("audit-review-break-glass", kwargs={"access_id": w["access"].pk}),
        "privacy",
        {"outcome": JUNK, "note": JUNK},
    ),
    FormCase(
        "alert evidence period",
        lambda w: reverse(
            "audit-alert-evidence", kwargs={"kind": "emergency-access", "user_id": w["doctor"].pk}
        ),
        "privacy",
        {"first": "soon", **_date("last", "1", "1", "1066")},
        empty=None,
        method="get",
    ),
    FormCase(
        "answer a patient's question",
        lambda w: reverse("audit-answer-question", kwargs={"question_id": w["question"].pk}),
        "privacy",
        {"answer": JUNK},
    ),
    FormCase(
        "a patient asks about a look",
        lambda w: reverse("patient-ask-about-look", kwargs={"look_id": w["look"].pk}),
        "patient",
        {"text": JUNK},
    ),
]


@pytest.fixture
def world(db):
    office = make_team("Record office", Team.Kind.RECORD_OFFICE, ods_code="LCR")
    privacy_office = make_team("Privacy office", Team.Kind.RECORD_OFFICE, ods_code="LCRP")
    nurses = make_team("Riverside District Nurses", Team.Kind.COMMUNITY_TEAM, ods_code="RXC")
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RXT")
    setup = UserFactory(username="setup")
    admin = member(office, Role.ADMINISTRATOR, "admin")
    doctor = member(ae, Role.AE_CLINICIAN, "doctor")
    patient = PatientFactory()
    relationship = services.start_relationship(
        patient=patient, team=nurses, kind="referral", reason="wound care", actor=setup,
        ends_on=timezone.localdate() + datetime.timedelta(days=30),
    )  # fmt: skip
    member(nurses, Role.COMMUNITY_NURSE, "nurse")
    access = services.break_glass(
        user=doctor, team=ae, patient=PatientFactory(), reason="other", explanation="unconscious"
    )
    look = a_look(patient, member(nurses, Role.COMMUNITY_NURSE, "nurse2"))
    question = ask_about_look(patient=patient, look_id=look.pk, text="Who is this?")
    return {
        "admin": admin,
        "privacy": member(privacy_office, Role.PRIVACY_OFFICER, "privacy"),
        "doctor": doctor,
        "patient": patient,
        "relationship": relationship,
        "team": nurses,
        "membership": nurses.memberships.get(user__username="nurse"),
        "access": access,
        "look": look,
        "question": question,
    }


def _client_for(case: FormCase, world: dict, client: Client) -> Client:
    if case.who == "nobody":
        return Client()
    if case.who == "patient":
        sign_in_as_patient(client, world["patient"])
        return client
    if case.who == "half signed in":
        from django_otp.plugins.otp_totp.models import TOTPDevice

        admin = world["admin"]
        admin.set_password("correct horse battery staple")
        admin.save()
        TOTPDevice.objects.create(user=admin, name="phone", confirmed=True)
        browser = Client()
        signed = browser.post(
            reverse("login"), {"username": "admin", "password": "correct horse battery staple"}
        )
        assert signed.status_code == 302
        return browser
    client.force_login(world[case.who])
    return client


def _send(case: FormCase, world: dict, client: Client, data: dict[str, str]):
    browser = _client_for(case, world, client)
    return getattr(browser, case.method)(case.url(world), data)


def _assert_speaks_nhsuk(response) -> None:
    page = response.content.decode()
    assert response.status_code < 500
    assert "There is a problem" in page  # the NHS.UK error summary
    assert re.search(r"<title>\s*Error: ", page)
    for words in DJANGO_WORDS:
        assert words not in page
    assert [tag for tag in _form_tags(page) if "novalidate" not in tag] == []
    assert _required_attributes(page) == []


SUBMITTED_EMPTY = [case for case in FORMS if case.empty is not None]


@pytest.mark.parametrize("case", SUBMITTED_EMPTY, ids=lambda c: c.name)
def test_a_form_sent_empty_says_what_is_missing_in_an_error_summary(case, world, client, settings):
    for name, value in case.settings.items():
        setattr(settings, name, value)
    _assert_speaks_nhsuk(_send(case, world, client, case.empty))


@pytest.mark.parametrize("case", FORMS, ids=lambda c: c.name)
def test_a_form_sent_junk_says_what_is_wrong_in_an_error_summary_never_a_500(
    case, world, client, settings
):
    for name, value in case.settings.items():
        setattr(settings, name, value)
    _assert_speaks_nhsuk(_send(case, world, client, case.junk))


def test_the_table_holds_every_form_view_it_knows_of():
    """A guard that the table is not emptied by mistake: each area's forms are in it."""
    names = {case.name for case in FORMS}
    assert len(names) == len(FORMS) >= 20
