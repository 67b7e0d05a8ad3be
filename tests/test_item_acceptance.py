"""Each resource judged on its own, over real HTTP from a test source (issue 14, items 1, 2, 4):
the valid ones about this patient are shown, the rest withheld and counted with their reason,
a heading with someone else's record in it is refused from that source and says so, and no
heading or summary card reads as complete when it is not; the page, the summary and the API
say the same. One test per defect the issue found, then a property over any mix."""

import datetime
import re
from types import SimpleNamespace

import orjson
import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from access import services
from access.models import Role, Team
from access.policy import actor_for
from care_record.fhir_export import record_bundle
from care_record.reading import read_record
from partner_api.renderers import FhirJsonRenderer
from records.categories import ALL_CATEGORIES, Category
from records.fetching import WRONG_PATIENT, fetch_link
from records.models import Link, MatchMethod, Snapshot, SourceSystem
from tests.factories import PatientFactory, SourceSystemFactory, UserFactory, make_team, member
from tests.fixture_source import FixtureSource
from tests.reference_fixtures import (
    ALIAS,
    FORMS,
    LOCAL_ID,
    NHS_NUMBER,
    REFUSED,
    SHOWN,
    URN,
    WITHHELD,
    resource_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
FORM = {form.name: form for form in FORMS}
BANNER = "Thameside Hospital sent a record about a different person; nothing from it is shown"


@pytest.fixture
def thameside():
    source = FixtureSource()
    yield source
    source.stop()


@pytest.fixture
def world(client, thameside):
    """A GP looking at Richard Smith's record, held by Thameside Hospital (the test source)."""
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    gp = member(team, Role.GP, "gp")
    patient = PatientFactory(nhs_number=NHS_NUMBER, given_names="Richard", family_name="Smith")
    services.start_relationship(
        patient=patient, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    source = SourceSystemFactory(
        name="Thameside Hospital", ods_code="RTH", base_url=thameside.base_url,
        alias_base_urls=ALIAS,
    )  # fmt: skip
    link = Link.objects.create(
        patient=patient, source=source, local_id=LOCAL_ID, matched_by=MatchMethod.NHS_NUMBER,
        confirmed_at=timezone.now(),
    )  # fmt: skip
    client.force_login(gp)
    return SimpleNamespace(client=client, patient=patient, link=link, source=thameside, gp=gp)


def titled(resource: dict, title: str) -> dict:
    """The resource with a title of its own, where its type keeps its name."""
    if resource["resourceType"] == "MedicationRequest":
        resource.pop("medicationReference")
        return {**resource, "medicationCodeableConcept": {"text": title}}
    field = "vaccineCode" if resource["resourceType"] == "Immunization" else "code"
    return {**resource, field: {"text": title}}


def serve(world, resource_type: str, *forms: str) -> None:
    """Serve one resource of that type per form named, each with its own id, title and (for a
    reference within the Bundle) its own urn:uuid."""
    entries = []
    for n, name in enumerate(forms, start=1):
        resource = resource_for(resource_type, FORM[name], world.source.base_url, n=n)
        resource = titled(resource, f"{resource_type} {n} ({name})")
        own = f"urn:uuid:5cab8d21-1a23-4b6b-93d3-{n:012d}"
        subject = resource.get("subject") or resource.get("patient")
        if isinstance(subject, dict) and subject.get("reference") == URN:
            subject["reference"] = own
        entries.append({"fullUrl": f"{world.source.base_url}/{resource_type}/{resource['id']}",
                        "resource": resource})  # fmt: skip
        entries += [{**e, "fullUrl": own} for e in FORM[name].bundle(world.source.base_url)]
    world.source.serve(resource_type, *entries)


def look(world) -> str:
    fetch_link(link_id=world.link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)
    # The whole record on one page (the page itself draws only the heading open).
    here = reverse("patient-record", kwargs={"patient_id": world.patient.pk})
    response = world.client.get(f"{here}?heading=all")
    assert response.status_code == 200
    return response.content.decode()


def heading(body: str, category: str) -> str:
    return re.search(rf'<div id="category-{category}".*?</div>', body, re.S).group()


def card(body: str, key: str) -> str:
    start = body.index(f'id="summary-{key}"')
    end = body.find('id="summary-', start + 1)
    return body[start : end if end != -1 else body.index("</section>", start)]


# Item 1: one bad resource no longer empties a heading.


def test_one_invalid_condition_no_longer_hides_the_eight_good_ones(world):
    serve(world, "Condition", *["relative"] * 8, "invalid, about this patient")

    problems = heading(look(world), "problems")

    assert problems.count("(relative)") == 8
    assert "(8 shown, 1 withheld)" in problems
    assert "Thameside Hospital sent 1 invalid (Condition: meta.lastUpdated" in problems


def test_one_invalid_diagnostic_report_no_longer_hides_the_observations_beside_it(world):
    serve(world, "Observation", *["relative"] * 51)
    serve(world, "DiagnosticReport", "invalid, about this patient")

    results = heading(look(world), "test_results")

    assert results.count("(relative)") == 51
    assert "(51 shown, 1 withheld)" in results
    assert "Thameside Hospital: 51 shown, 1 withheld" in results


def test_a_record_about_someone_else_refuses_the_heading_from_that_source_and_says_so(world):
    serve(world, "AllergyIntolerance", *["relative"] * 9, "another id on the base")
    serve(world, "Condition", "relative")

    body = look(world)

    allergies = heading(body, "allergies")
    assert BANNER + " for this patient." in allergies
    assert "(relative)" not in allergies and "None recorded" not in allergies
    summary = card(body, "allergies")
    assert BANNER in summary and "No allergies recorded" not in summary
    assert "(relative)" in heading(body, "problems")  # the other headings stand


def test_the_source_line_names_the_heading_refused_and_claims_nothing_is_shown_from_it(world):
    serve(world, "AllergyIntolerance", "relative")
    look(world)
    serve(world, "AllergyIntolerance", "relative", "another NHS number")

    body = look(world)

    start = body.index('id="record-sources"')
    sources = body[start : body.index("</section>", start)]
    assert "Allergies and reactions: sent a record about a different person" in sources
    assert "showing what it sent" not in sources


def test_a_heading_whose_only_resource_was_withheld_never_reads_as_empty(world):
    serve(world, "AllergyIntolerance", "display only")

    body = look(world)

    allergies = heading(body, "allergies")
    assert "(0 shown, 1 withheld)" in allergies
    assert "Thameside Hospital sent 1 with no patient we can recognise" in allergies
    assert "None recorded" not in allergies
    assert "No allergies recorded" not in card(body, "allergies")


def test_each_summary_card_speaks_only_of_its_own_headings_sources(world):
    serve(world, "AllergyIntolerance", "relative")
    serve(world, "MedicationRequest", "relative")
    fetch_link(link_id=world.link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)
    Snapshot.objects.filter(link=world.link, category=Category.ALLERGIES).update(
        status=Snapshot.Status.FAILED, reason="source unavailable: timed out"
    )
    waiting = Link.objects.create(
        patient=world.patient, source=SourceSystemFactory(name="Riverside GP"), local_id="G1",
        matched_by=MatchMethod.NHS_NUMBER, confirmed_at=timezone.now(),
    )  # fmt: skip
    for category in ALL_CATEGORIES:  # answered everything but problems
        if category != Category.PROBLEMS:
            Snapshot.objects.create(
                link=waiting, category=category, status=Snapshot.Status.FRESH,
                requested_at=timezone.now(), fetched_at=timezone.now(),
                expires_at=timezone.now() + datetime.timedelta(hours=1),
            )  # fmt: skip

    body = world.client.get(
        reverse("patient-record", kwargs={"patient_id": world.patient.pk})
    ).content.decode()

    medicines = card(body, "medicines")
    assert "lcr-incomplete" not in medicines and "MedicationRequest 1" in medicines
    allergies = card(body, "allergies")
    assert "Thameside Hospital: source unavailable: timed out" in allergies
    assert "Riverside GP" not in allergies
    assert "Still waiting for Riverside GP" in card(body, "problems")


# Item 2: every legitimate form of patient reference is recognised; none is trusted blindly.


@pytest.mark.parametrize(
    "form",
    [
        "versioned",
        "absolute on an alias",
        "by NHS number",
        "urn:uuid Patient in the Bundle",
        "contained Patient by NHS number",
    ],
)
def test_a_legitimate_reference_to_this_patient_is_shown(world, form):
    serve(world, "AllergyIntolerance", "relative", form)

    allergies = heading(look(world), "allergies")

    assert f"({form})" in allergies and "(relative)" in allergies
    assert "withheld" not in allergies


def test_a_display_only_reference_is_withheld_and_the_rest_are_shown(world):
    serve(world, "AllergyIntolerance", "relative", "relative", "display only")

    allergies = heading(look(world), "allergies")

    assert allergies.count("(relative)") == 2 and "(display only)" not in allergies
    assert "(2 shown, 1 withheld)" in allergies


@pytest.mark.parametrize("form", ["another NHS number", "urn:uuid Patient of someone else"])
def test_a_reference_that_positively_names_someone_else_is_refused(world, form):
    serve(world, "Immunization", "relative", form)

    immunisations = heading(look(world), "immunisations")

    assert BANNER in immunisations and "(relative)" not in immunisations
    world.link.source.refresh_from_db()
    assert world.link.source.wrong_patient_count == 1


@pytest.mark.parametrize(
    ("setting", "parameter"),
    [("identifier", "patient:identifier"), ("chained", "patient.identifier")],
)
def test_a_source_that_wants_it_is_searched_by_nhs_number(world, setting, parameter):
    SourceSystem.objects.filter(pk=world.link.source_id).update(patient_search=setting)
    serve(world, "AllergyIntolerance", "by NHS number")

    assert "(by NHS number)" in heading(look(world), "allergies")
    asked = [query for resource_type, query in world.source.queries if resource_type != "metadata"]
    assert asked and all(
        q.get(parameter) == f"https://fhir.nhs.uk/Id/nhs-number|{NHS_NUMBER}" and "patient" not in q
        for q in asked
    )


def test_the_home_page_shows_administrators_a_source_that_mixed_patients_up(world, client):
    serve(world, "AllergyIntolerance", "another id on the base")
    look(world)
    client.force_login(UserFactory(username="sysadmin", is_staff=True))

    body = client.get(reverse("home")).content.decode()

    assert "Sent a record about a different person 1 time" in body


# Item 4: the API says what the page says.


def test_the_api_gives_an_issue_per_heading_and_source_and_passes_entered_in_error_through(
    world,
):
    error = resource_for("AllergyIntolerance", FORM["relative"], world.source.base_url, n=7)
    error["verificationStatus"] = {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
        "code": "entered-in-error"}]}  # fmt: skip
    world.source.serve(
        "AllergyIntolerance",
        error,
        resource_for("AllergyIntolerance", FORM["invalid, about this patient"], "", n=8),
    )
    serve(world, "Condition", "relative", "another id on the base")
    fetch_link(link_id=world.link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)
    record = read_record(actor=actor_for(world.gp), patient=world.patient, channel="api")

    bundle = orjson.loads(FhirJsonRenderer().render(record_bundle(record)))  # as written

    [allergy] = [e["resource"] for e in bundle["entry"]
                 if e["resource"]["resourceType"] == "AllergyIntolerance"]  # fmt: skip
    assert allergy["verificationStatus"]["coding"][0]["code"] == "entered-in-error"
    issues = {
        (issue["details"]["coding"][2]["code"]): issue
        for issue in bundle["entry"][-1]["resource"]["issue"]
        if len(issue["details"]["coding"]) == 3
    }
    allergies = issues[Category.ALLERGIES]
    assert (allergies["severity"], allergies["code"]) == ("warning", "incomplete")
    assert (
        "Thameside Hospital (RTH): 1 shown, 1 withheld; it sent 1 invalid ("
        in (allergies["details"]["text"])
    )
    problems = issues[Category.PROBLEMS]
    assert problems["severity"] == "error" and WRONG_PATIENT in problems["details"]["text"]
    assert issues[Category.MEDICINES]["severity"] == "information"


# The property: whatever the mix, the record shows exactly the valid ones about this patient.

MIX = st.lists(st.sampled_from([f.name for f in FORMS]), max_size=6)


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(allergies=MIX, observations=MIX, reports=MIX)
def test_for_any_mix_the_page_shows_exactly_the_valid_ones_and_says_what_is_not_shown(
    world, allergies, observations, reports
):
    served = {"AllergyIntolerance": allergies, "Observation": observations,
              "DiagnosticReport": reports}  # fmt: skip
    world.source.entries.clear()
    for resource_type, forms in served.items():
        serve(world, resource_type, *forms)

    body = look(world)

    for category, types in (("allergies", ["AllergyIntolerance"]),
                            ("test_results", ["Observation", "DiagnosticReport"])):  # fmt: skip
        part = heading(body, category)
        forms = [(t, n, name) for t in types for n, name in enumerate(served[t], start=1)]
        refused = any(FORM[name].expected == REFUSED for _, _, name in forms)
        expected_shown = set() if refused else {
            f"{t} {n} ({name})" for t, n, name in forms if FORM[name].expected == SHOWN
        }  # fmt: skip
        shown = set(
            re.findall(r"(?:AllergyIntolerance|Observation|DiagnosticReport) \d+ \([^)]*\)", part)
        )
        assert shown == expected_shown
        withheld = sum(FORM[name].expected == WITHHELD for _, _, name in forms)
        if refused:
            assert BANNER in part
        elif withheld:
            assert f"{len(expected_shown)} shown, {withheld} withheld" in part
        if refused or withheld:
            assert "None recorded" not in part and "Not everything is shown" in part
        else:
            assert "Not everything is shown" not in part
            assert ("None recorded" in part) is (not expected_shown)
    allergy_card = card(body, "allergies")
    if refused_allergies := any(FORM[n].expected == REFUSED for n in allergies):
        assert BANNER in allergy_card
    if refused_allergies or any(FORM[n].expected == WITHHELD for n in allergies):
        assert "No allergies recorded" not in allergy_card
