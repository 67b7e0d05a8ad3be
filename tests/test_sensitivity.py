"""Sensitive content by what it says: the code sets and labels that mark an item sensitive, read
at every look; withheld items counted on the heading and the summary (never "None recorded"),
and shown under emergency access with a warning. tests/test_permission_matrix.py and
tests/test_api_matrix.py hold every role, sensitivity and basis to the role policy."""

import orjson
import pytest
from django.urls import reverse

from access import services
from access.models import Role, SensitiveCode, SensitiveCodeSet, Sensitivity, Team
from access.sensitivity import sensitive_codes, sensitivities_of
from records.models import Snapshot, without_restricted_details_in_items
from records.sources.codings import codings_in
from records.sources.view_items import view_item
from records.stored_items import stored_resource
from tests.factories import PatientFactory, UserFactory, make_team, member
from tests.test_admin_looks import staff  # noqa: F401 (a fixture)
from tests.test_record_page import answered, item, linked

pytestmark = pytest.mark.django_db
SNOMED = "http://snomed.info/sct"
STORED_AS_TEXT = ("codings", "resource_text", "resource_meta")
HIV = {"system": SNOMED, "code": "86406008", "display": "Human immunodeficiency virus infection"}


def judged(resource=None, **fields) -> set[str]:
    """An item's sensitivities, judged both ways a look may meet it: cached before its codings
    were kept (the resource walked at the look), and with the codings found when it was made
    (as a stored item holds them); the two must agree."""
    view = {"code_system": "", "code": "", **fields}
    if resource is not None:
        view["resource"] = resource
    walked = set(sensitivities_of(view, sensitive_codes()))
    if resource is not None:
        stored = {**view, "codings": [list(pair) for pair in codings_in(resource)]}
        assert set(sensitivities_of(stored, sensitive_codes())) == walked
    return walked


def test_every_code_set_is_named_dated_and_says_where_it_comes_from():
    sets = list(SensitiveCodeSet.objects.prefetch_related("codes"))
    assert sets
    for code_set in sets:
        assert code_set.name and code_set.source and code_set.as_of, code_set
        assert code_set.codes.exists(), code_set
    systems = {(s.sensitivity, c.system) for s in sets for c in s.codes.all()}
    for sensitivity in ("sexual_health", "termination", "assisted_conception", "gender_identity"):
        assert (sensitivity, SNOMED) in systems
        assert (sensitivity, "http://hl7.org/fhir/sid/icd-10") in systems


def test_a_code_anywhere_in_the_resource_marks_it_not_only_its_own_code():
    encounter = {
        "resourceType": "Encounter",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [{"coding": [{"system": SNOMED, "code": "11429006"}]}],
        "reasonCode": [{"coding": [HIV]}],
    }
    assert judged(encounter, code_system=SNOMED, code="11429006") == {"sexual_health"}
    del encounter["reasonCode"]
    assert judged(encounter, code_system=SNOMED, code="11429006") == set()


def test_icd10_codes_match_by_category_in_any_of_its_systems():
    uk = "http://hl7.org/fhir/sid/icd-10-uk"
    assert judged(code_system=uk, code="B20.1") == {"sexual_health"}
    assert judged(code_system="http://hl7.org/fhir/sid/icd-10", code="Z312") == {
        "assisted_conception"
    }
    assert judged(code_system=uk, code="Z31.4") == set()  # another Z31 is not assisted conception
    assert judged(code_system=uk, code="B2") == set()


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"},
         {"sexual_health"}),
        ({"system": "http://hl7.org/fhir/v3/ActCode", "code": "PSY"}, {"mental_health"}),
        ({"system": "http://hl7.org/fhir/v3/ActCode", "code": "SDV"}, {"safeguarding"}),
        ({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "ETH"},
         {"substance_misuse"}),
        ({"system": "http://hl7.org/fhir/v3/Confidentiality", "code": "V"}, {"restricted"}),
        ({"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "N"},
         set()),
    ],
    ids=["hiv-r4", "psy-stu3", "sdv-stu3", "eth-r4", "very-restricted-stu3", "normal"],
)  # fmt: skip
def test_meta_security_labels_in_r4_and_stu3_systems(label, expected):
    assert judged({"resourceType": "Condition", "meta": {"security": [label]}}) == expected


def test_an_item_cached_before_resources_were_kept_is_judged_by_its_own_code():
    assert judged(code_system=SNOMED, code="86406008") == {"sexual_health"}


def test_a_resource_nested_deeper_than_any_real_one_is_judged_without_failing():
    deep: list = [HIV]
    for _ in range(5000):
        deep = [deep]
    assert judged({"resourceType": "Condition", "extension": deep}) == set()


@pytest.fixture
def looked_at(client):
    """A patient whose GP holds an HIV diagnosis and a referral for it, cared for by a practice
    nurse's team (who does not see sexual health) and an A&E department (under emergency)."""
    office = UserFactory(username="office")
    surgery = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    patient = PatientFactory(given_names="Ada", family_name="Mensah")
    services.start_relationship(
        patient=patient, team=surgery, kind="registered_gp", reason="registered", actor=office
    )
    link = linked(patient, "Mile End Surgery GP", kind="gp_practice")
    condition = {"resourceType": "Condition", "id": "Condition-1", "code": {"coding": [HIV]}}
    answered(
        link,
        {
            "problems": [
                item("Condition", 1, "HIV infection", code_system=SNOMED, code=HIV["code"],
                     resource=condition),
            ],
        },
    )  # fmt: skip
    nurse = member(surgery, Role.PRACTICE_NURSE, "nurse")
    return client, patient, nurse


def page_of(client, patient) -> str:
    here = reverse("patient-record", kwargs={"patient_id": patient.pk})
    response = client.get(f"{here}?heading=all")  # every heading drawn, as printed
    assert response.status_code == 200
    return response.content.decode()


def test_a_heading_whose_only_item_is_withheld_says_so_and_never_none_recorded(looked_at):
    client, patient, nurse = looked_at
    client.force_login(nurse)
    page = page_of(client, patient)
    problems = page[page.index('id="category-problems"') :]
    problems = problems[: problems.index("</div>")]
    assert "HIV infection" not in page
    assert "(0 shown, 1 withheld)" in problems
    assert "1 item withheld because it is sensitive" in problems
    assert "Mile End Surgery GP: 0 shown, 1 withheld because it is sensitive" in problems
    assert "None recorded" not in problems
    # The summary's card says the same, not "No active problems recorded".
    card = page[page.index('id="summary-problems"') :]
    card = card[: card.index("</div>")]
    assert "1 item withheld because it is sensitive" in card
    assert "No active problems recorded." not in card


def test_a_change_to_the_code_sets_applies_at_the_next_look(looked_at):
    client, patient, nurse = looked_at
    client.force_login(nurse)
    SensitiveCode.objects.filter(code=HIV["code"]).delete()
    assert "HIV infection" in page_of(client, patient)

    SensitiveCode.objects.create(
        code_set=SensitiveCodeSet.objects.filter(sensitivity=Sensitivity.SEXUAL_HEALTH).first(),
        system=SNOMED, code=HIV["code"], display=HIV["display"],
    )  # fmt: skip
    assert "HIV infection" not in page_of(client, patient)


def test_emergency_access_shows_sensitive_items_with_a_warning(looked_at):
    client, patient, _ = looked_at
    ae = make_team("Thameside A&E", Team.Kind.AE_DEPARTMENT, ods_code="RAE")
    clinician = member(ae, Role.AE_CLINICIAN, "ae")
    services.break_glass(
        user=clinician, team=ae, patient=patient, reason="other", explanation="unconscious"
    )
    client.force_login(clinician)
    page = page_of(client, patient)
    assert "HIV infection" in page
    assert "Sensitive: shown under emergency access" in page
    assert "withheld because" not in page


def test_the_code_sets_are_in_the_admin_to_read_and_not_to_change(staff):  # noqa: F811
    client, _ = staff
    code_set = SensitiveCodeSet.objects.get(
        name="Sexually transmitted infections and HIV (SNOMED CT)"
    )
    listing = client.get("/admin/access/sensitivecodeset/")
    assert listing.status_code == 200
    assert code_set.name in listing.content.decode()
    page = client.get(f"/admin/access/sensitivecodeset/{code_set.pk}/change/").content.decode()
    assert "86406008" in page and "dd4c.digital.nhs.uk" in page
    assert 'name="_save"' not in page
    assert client.get("/admin/access/sensitivecodeset/add/").status_code == 403


def test_some_demo_patients_gp_records_hold_items_the_code_sets_mark_sensitive():
    """So that `make run` shows the withheld line to the social worker, and the warning under
    emergency access: the demo's social care team supports some of them."""
    from demo.clinical import holds_sensitive_diagnosis, resources_for
    from demo.population import generate

    population = generate()
    supported = population.people_at("social_care")[:40]  # the demo social care team's cases
    person = next(p for p in supported if holds_sensitive_diagnosis(p) and p.known_to("gp"))
    held = resources_for(population, person, "gp")
    codes = sensitive_codes()
    marked = {
        resource["resourceType"]
        for resource in held["Condition"] + held["ServiceRequest"]
        if "sexual_health" in sensitivities_of(view_item(resource).as_dict(), codes)
    }
    assert marked
    assert marked == {"Condition", "ServiceRequest"}
    others = [p for p in population.people if not holds_sensitive_diagnosis(p)][:20]
    for other in others:
        for resources in resources_for(population, other, "gp").values():
            assert not any(sensitivities_of(view_item(r).as_dict(), codes) for r in resources)


def test_an_items_kept_codings_judge_it_as_walking_its_resource_would_for_every_demo_resource():
    """What the fetcher stores (the view item, its resource and the codings found in it, as
    JSON) is judged as the resource itself walked at the look, for every resource the demo's
    sources serve, sensitive or not."""
    from demo.clinical import resources_for
    from demo.population import generate

    population = generate()
    codes = sensitive_codes()
    judged_sensitive = 0
    for person in population.people[:60]:
        for source in population.sources:
            for resources in resources_for(population, person, source.key).values():
                for resource in resources:
                    stored = orjson.loads(orjson.dumps(view_item(resource).as_dict()))
                    assert stored["codings"], resource  # every resource here is coded
                    walked = {  # the same item as cached before: its resource as data
                        **{k: v for k, v in stored.items() if k not in STORED_AS_TEXT},
                        "resource": stored_resource(stored),
                    }
                    found = sensitivities_of(stored, codes)
                    assert found == sensitivities_of(walked, codes), resource
                    judged_sensitive += bool(found)
    assert judged_sensitive  # the comparison met sensitive items, not only plain ones


def test_a_changed_snapshot_is_judged_again_at_the_next_look(looked_at):
    """An item's judgement is never kept from an earlier version of its snapshot: the source's
    next answer, sensitive or not, is what the next look judges."""
    client, patient, nurse = looked_at
    client.force_login(nurse)
    assert "HIV infection" not in page_of(client, patient)
    snapshot = Snapshot.objects.get(link__patient=patient, category="problems")
    plain = {"resourceType": "Condition", "id": "Condition-1", "code": {"coding": [
        {"system": SNOMED, "code": "38341003", "display": "Hypertension"}]}}  # fmt: skip
    snapshot.items = [{**view_item(plain).as_dict(), "title": "HIV infection, corrected"}]
    snapshot.save()
    assert "HIV infection, corrected" in page_of(client, patient)

    hiv_label = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}
    labelled = {**plain, "meta": {"security": [hiv_label]}}
    snapshot.items = [{**view_item(labelled).as_dict(), "title": "HIV infection, corrected"}]
    snapshot.save()
    assert "HIV infection, corrected" not in page_of(client, patient)


def test_leaving_a_restricted_persons_details_out_takes_their_codings_with_them():
    sensitive_contact = {"relationship": [{"coding": [HIV]}], "name": {"family": "Mensah"}}
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "contact": [sensitive_contact],
        "gender": "female",
    }
    stored = view_item({"resourceType": "Encounter", "contained": [patient]}).as_dict()
    assert [SNOMED, HIV["code"]] in stored["codings"]
    (cleaned,) = without_restricted_details_in_items([stored], restricted=True)
    assert "contact" not in stored_resource(cleaned)["contained"][0]
    assert cleaned["codings"] == [list(pair) for pair in codings_in(stored_resource(cleaned))]
    assert [SNOMED, HIV["code"]] not in cleaned["codings"]
    assert "sexual_health" not in sensitivities_of(cleaned, sensitive_codes())
