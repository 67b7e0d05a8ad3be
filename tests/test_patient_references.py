"""Whether a resource is about the patient asked for, by every form of patient reference real
sources send (UK Core examples, NRL pointers, GP Connect): this patient, someone else, or no one
we can recognise; and, over real HTTP, the whole fixture set judged as it must be."""

import pytest

from records.sources.patient_references import PatientIdentity, Verdict, judge
from tests.conformance import judge_all
from tests.fixture_source import FixtureSource
from tests.reference_fixtures import (
    ALIAS,
    BASES,
    FORMS,
    LOCAL_ID,
    NHS_NUMBER,
    REFUSED,
    SHOWN,
    entries_for,
)

BASE = "https://fhir.thameside.nhs.example/R4/"
PATIENT = PatientIdentity(LOCAL_ID, (BASE, ALIAS), NHS_NUMBER)
EXPECTED = {SHOWN: Verdict.THIS, REFUSED: Verdict.ANOTHER}


@pytest.mark.parametrize("resource_type", ["AllergyIntolerance", "Observation", "Appointment"])
@pytest.mark.parametrize("form", [f for f in FORMS if not f.invalid], ids=lambda f: f.name)
def test_each_form_of_patient_reference_names_this_patient_someone_else_or_no_one(
    form, resource_type
):
    entries = entries_for(resource_type, form, BASE.rstrip("/"))
    full_urls = {entry["fullUrl"]: entry["resource"] for entry in entries}

    verdict = judge(entries[0]["resource"], PATIENT, full_urls)

    assert verdict is EXPECTED.get(form.expected, Verdict.UNKNOWN)


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("Patient/UKCore-Patient-RichardSmith-Example", Verdict.THIS),
        (f"{BASE}Patient/{LOCAL_ID}", Verdict.THIS),
        (f"HTTPS://FHIR.THAMESIDE.NHS.EXAMPLE:443/R4/Patient/{LOCAL_ID}", Verdict.THIS),
        (f"Patient/{LOCAL_ID}1", Verdict.ANOTHER),
        (f"Patient/X{LOCAL_ID}", Verdict.ANOTHER),
        (f"Patient/{LOCAL_ID}/extra", Verdict.UNKNOWN),
        (f"https://elsewhere.example/R4/Patient/{LOCAL_ID}", Verdict.UNKNOWN),
        (f"{BASE}r4/Patient/{LOCAL_ID}", Verdict.UNKNOWN),  # paths are case-sensitive
    ],
)
def test_a_literal_reference_is_this_patient_only_on_this_server_with_this_id(reference, expected):
    resource = {"resourceType": "Condition", "subject": {"reference": reference}}
    assert judge(resource, PATIENT) is expected


def test_an_appointment_names_its_patient_among_other_participants():
    def appointment(*actors):
        return {"resourceType": "Appointment", "participant": [{"actor": a} for a in actors]}

    practitioner = {"reference": "Practitioner/9", "display": "Dr Gose"}
    ours = {"reference": f"Patient/{LOCAL_ID}"}
    assert judge(appointment(ours, practitioner), PATIENT) is Verdict.THIS
    assert judge(appointment(practitioner), PATIENT) is Verdict.UNKNOWN
    assert judge(appointment(ours, {"reference": "Patient/2"}), PATIENT) is Verdict.ANOTHER
    by_number = {"type": "Patient", "identifier": {"system": "x", "value": "1"}}
    assert judge(appointment(ours, by_number), PATIENT) is Verdict.UNKNOWN  # one unknown


def test_without_the_patients_nhs_number_an_identifier_reference_is_not_recognised():
    resource = {"resourceType": "DocumentReference",
                "subject": {"identifier": {"system": "https://fhir.nhs.uk/Id/nhs-number",
                                           "value": NHS_NUMBER}}}  # fmt: skip
    assert judge(resource, PatientIdentity(LOCAL_ID, (BASE,))) is Verdict.UNKNOWN
    assert judge(resource, PATIENT) is Verdict.THIS


@pytest.mark.integration
def test_every_reference_fixture_is_judged_as_it_must_be_through_the_adapter():
    """The conformance figure of docs/fetching.md (python -m tests.conformance)."""
    source = FixtureSource()
    try:
        judged = judge_all(source)
    finally:
        source.stop()
    wrong = [(j.resource_type, j.form.name, j.outcome, j.reason) for j in judged if not j.correct]
    assert wrong == []
    assert len(judged) == len(BASES) * len(FORMS)
