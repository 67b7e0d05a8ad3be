"""GP Connect Access Record Structured: the adapter against the simulated provider over real HTTP
(what is asked, what is shown, every Spine error in words), our own STU3 fixtures read into the
same view items as R4, a source speaking another FHIR version refused with that reason, and the
partner API never passing STU3 off as R4."""

import base64
import io
import json

import orjson
import pytest
import requests
from django.urls import reverse

from access import services
from access.models import Role, Team
from demo.clinical import resources_for
from demo.gp_connect import SPINE_ERRORS as PROVIDER_ERRORS
from demo.gp_connect import SimulatedGpConnectProvider
from demo.load import register_population
from demo.sources import Behaviour
from records.categories import ALL_CATEGORIES, Category
from records.fetching import WRONG_PATIENT, fetch_link
from records.models import Link, MatchMethod, Patient, Snapshot, SourceSystem
from records.services import link_patient, system_user
from records.source_checks import check_source
from records.sources.errors import RecordRefused, SourceUnavailable, WrongPatientInResponse
from records.sources.gp_connect import (
    NOT_CARRIED,
    SPINE_ERRORS,
    read_structured_record,
    spine_error,
)
from records.sources.gp_connect_request import (
    INCLUDE_GROUPS,
    INTERACTION_ID,
    LOCAL_USER_SYSTEM,
    Requester,
    access_token,
    parameters,
)
from records.sources.resource_types import CATEGORY_RESOURCE_TYPES
from records.sources.view_items import UNNAMED_MEDICINE
from tests import gp_connect_fixtures as fixtures
from tests.factories import UserFactory, make_team, member

GP_CONNECT = SourceSystem.Interface.GP_CONNECT_STRUCTURED
ASKED = list(INCLUDE_GROUPS)


def read(bundle, nhs_number=fixtures.NHS_NUMBER, **limits):
    return read_structured_record(
        bundle,
        nhs_number=nhs_number,
        categories=ASKED,
        max_per_category=limits.get("max_per_category", 2000),
        max_per_look=limits.get("max_per_look", 10_000),
    )


# Our fixtures, read without a server --------------------------------------------------------


def test_the_published_shapes_become_the_same_view_items_as_r4_marked_stu3():
    record = read(fixtures.structured_record())

    titles = {c: [i.title for i in f.items] for c, f in record.items()}
    assert titles == {
        "allergies": ["Amoxicillin allergy", "Allergy to eggs"],
        "medicines": ["Paracetamol 500mg tablets"],  # named through its Medication
        "problems": ["Asthma"],
        "immunisations": ["Influenza vaccine"],
        "encounters": ["Telephone encounter"],
        "test_results": ["Diagnostic studies report", "Haemoglobin estimation"],
        "referrals": ["Referral to dermatology service"],
    }
    items = [i for f in record.values() for i in f.items]
    assert {i.fhir_version for i in items} == {"3.0.1"}
    assert all(f.withheld == 0 for f in record.values())
    allergies = record["allergies"].items
    assert [a.status for a in allergies] == ["Active (unconfirmed)", "Resolved"]
    assert allergies[0].detail == "Weal (mild)"
    [vaccine] = record["immunisations"].items
    assert (vaccine.status, vaccine.status_code) == ("Not done", "not-done")
    [referral] = record["referrals"].items
    assert referral.contact == "Thameside Dermatology"
    [medicine] = record["medicines"].items
    assert medicine.resource_type == "MedicationStatement"  # its authorisation is not repeated
    assert medicine.detail == "Two tablets four times a day"
    assert record["test_results"].items[1].value == "131 g/L"


def test_a_record_about_another_nhs_number_is_refused_as_a_wrong_patient():
    with pytest.raises(WrongPatientInResponse):
        read(fixtures.structured_record(), nhs_number=fixtures.OTHER_NHS_NUMBER)


def test_a_resource_naming_another_patient_in_the_bundle_refuses_it_all():
    bundle = fixtures.structured_record()
    bundle["entry"][3]["resource"]["patient"] = {"reference": "Patient/99"}

    with pytest.raises(WrongPatientInResponse):
        read(bundle)


def test_each_resource_is_judged_on_its_own_invalid_and_unrecognised_are_counted():
    bundle = fixtures.structured_record()
    resources = {
        f"{e['resource']['resourceType']}/{e['resource']['id']}": e for e in bundle["entry"]
    }
    resources["Condition/4"]["resource"]["clinicalStatus"] = 12345  # not STU3
    resources["Encounter/6"]["resource"]["subject"] = {"display": "Jane Jackson"}  # no reference

    record = read(bundle)

    assert (record["problems"].items, record["problems"].withheld) == ([], 1)
    assert record["problems"].withheld_reason.startswith(
        "sent 1 invalid (Condition: clinicalStatus"
    )
    assert record["encounters"].withheld_reason == "sent 1 with no patient we can recognise"
    assert len(record["allergies"].items) == 2  # the rest is still shown


def test_a_heading_past_its_limit_says_how_many_were_withheld():
    record = read(fixtures.structured_record(), max_per_category=1)

    assert len(record["allergies"].items) == 1
    assert record["allergies"].withheld_reason == "sent 2 resources; at most 1 are shown"


def test_not_a_structured_record_and_no_patient_are_said_in_words():
    from records.sources.errors import MalformedResponse

    with pytest.raises(MalformedResponse, match="not a GP Connect structured record"):
        read({"resourceType": "Bundle", "type": "searchset", "entry": []})
    no_patient = [r for r in fixtures.RESOURCES if r["resourceType"] != "Patient"]
    with pytest.raises(MalformedResponse, match="no Patient"):
        read(fixtures.structured_record(no_patient))


@pytest.mark.parametrize("code", sorted(PROVIDER_ERRORS))
def test_every_spine_error_code_is_a_clear_reason(code):
    status, _, _ = PROVIDER_ERRORS[code]
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "x", "details": {"coding": [
            {"system": "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1",
             "code": code}]}}],
    }  # fmt: skip
    error = spine_error(status, outcome)

    assert error.reason == f"GP Connect: the practice {SPINE_ERRORS[code]} ({code})"
    assert isinstance(error, SourceUnavailable) == (code == "INTERNAL_SERVER_ERROR")


def test_the_request_asks_only_the_include_groups_of_the_headings_fetched():
    body = parameters("9690937286", ["allergies", "appointments"])

    nhs_number = {"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9690937286"}
    resolved = {"name": "includeResolvedAllergies", "valueBoolean": True}
    assert body["parameter"] == [
        {"name": "patientNHSNumber", "valueIdentifier": nhs_number},
        {"name": "includeAllergies", "part": [resolved]},
    ]


def test_the_jwt_is_unsigned_or_signed_with_the_key_set():
    from jwcrypto import jwk, jwt

    requester = Requester(asid="200000000359", organisation_ods="Y90000", organisation_name="LCR")
    unsigned = access_token(requester, audience="http://gp/fhir", now=1_700_000_000)
    header, payload, signature = unsigned.split(".")
    assert signature == ""
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "none", "typ": "JWT"}
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    assert (claims["exp"] - claims["iat"], claims["reason_for_request"]) == (300, "directcare")

    key = jwk.JWK.generate(kty="RSA", size=2048)
    pem = key.export_to_pem(private_key=True, password=None).decode()
    signed = access_token(requester, audience="http://gp/fhir", signing_key=pem)
    verified = jwt.JWT(jwt=signed, key=key, expected_type="JWS")
    assert json.loads(verified.claims)["requested_scope"] == "patient/*.read"


# The adapter against the simulated provider, over real HTTP -----------------------------------


@pytest.fixture
def provider(population):
    server = SimulatedGpConnectProvider(population).start()
    yield server
    server.stop()


@pytest.fixture
def gp_link(population, provider, db):
    """Person 0 on the register, linked to the simulated GP Connect provider."""
    register_population(population)
    return link_to_provider(population, provider, population.people[0])


def link_to_provider(population, provider, person) -> Link:
    """The person (on the register) linked to the simulated provider, a GP Connect source."""
    spec = population.source("gp")
    source = SourceSystem.objects.create(
        ods_code=spec.ods_code, name=spec.name, kind=spec.kind, base_url=provider.base_url,
        timeout_seconds=5, interface=GP_CONNECT,
    )  # fmt: skip
    return link_patient(
        patient=Patient.objects.get(nhs_number=person.nhs_number), source=source,
        local_id=person.local_ids["gp"], matched_by=MatchMethod.NHS_NUMBER, score=None,
        actor=system_user(),
    )  # fmt: skip


def registered_gp(link, username="dr.okafor"):
    """A GP of the patient's practice, with the care relationship that lets them look."""
    team = make_team("Mile End Surgery", Team.Kind.GP_PRACTICE, ods_code="F84001")
    gp = member(team, Role.GP, username)
    services.start_relationship(
        patient=link.patient, team=team, kind="registered_gp", reason="registered",
        actor=UserFactory(username="office"),
    )  # fmt: skip
    return gp, team


def snapshot(link, category) -> Snapshot:
    return Snapshot.objects.get(link=link, category=category)


@pytest.mark.integration
@pytest.mark.django_db
def test_the_whole_record_comes_in_one_request_with_the_spine_headers_and_jwt(
    gp_link, provider, population
):
    outcome = fetch_link(link_id=gp_link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)

    # Asked in one request; the headings the structured record does not carry say so.
    assert outcome.failed == {c: NOT_CARRIED for c in ALL_CATEGORIES if c not in ASKED}
    assert provider._requests["Patient"] == 1  # one structured record for every heading
    headers = provider.received["headers"]
    assert headers["Ssp-InteractionID"] == INTERACTION_ID
    assert headers["Ssp-To"] == provider.provider_asid and headers["Ssp-From"]
    claims = provider.received["claims"]
    assert claims["aud"] == provider.base_url
    assert claims["requesting_organization"]["identifier"][0]["value"] == "Y90000"
    asked = [p["name"] for p in provider.received["parameters"]["parameter"]]
    assert asked == ["patientNHSNumber", *(g["name"] for c in ASKED for g in INCLUDE_GROUPS[c])]
    medicines = snapshot(gp_link, Category.MEDICINES).items
    assert medicines and all(m["title"] != UNNAMED_MEDICINE for m in medicines)
    assert {m["resource_type"] for m in medicines} == {"MedicationStatement"}
    held = resources_for(population, population.people[0], "gp")
    types = {
        "medicines": ["MedicationStatement"],
        "test_results": ["Observation", "DiagnosticReport"],
    }
    for category in ASKED:
        items = snapshot(gp_link, category).items
        r4_types = types.get(category, CATEGORY_RESOURCE_TYPES[category])
        r4_types = ["ServiceRequest"] if category == "referrals" else r4_types
        assert len(items) == sum(len(held.get(t, [])) for t in r4_types), category
        assert {i["fhir_version"] for i in items} <= {"3.0.1"}
    assert SourceSystem.objects.get(pk=gp_link.source_id).declared_fhir_version == "3.0.1"


@pytest.mark.integration
@pytest.mark.django_db
def test_only_the_headings_asked_are_asked_of_the_practice(gp_link, provider):
    fetch_link(link_id=gp_link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    asked = [p["name"] for p in provider.received["parameters"]["parameter"]]
    assert asked == ["patientNHSNumber", "includeAllergies"]


@pytest.mark.integration
@pytest.mark.django_db
@pytest.mark.parametrize(
    "code", ["PATIENT_NOT_FOUND", "INVALID_NHS_NUMBER", "NO_RELATIONSHIP", "ACCESS_DENIED",
             "NO_PATIENT_CONSENT", "INVALID_RESOURCE", "BAD_REQUEST", "NOT_IMPLEMENTED"],
)  # fmt: skip
def test_each_gp_connect_error_is_the_headings_reason(gp_link, provider, code):
    provider.behaviour = Behaviour(spine_error=code)

    outcome = fetch_link(link_id=gp_link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)

    reason = f"GP Connect: the practice {SPINE_ERRORS[code]} ({code})"
    assert {outcome.failed[c] for c in ASKED} == {reason}
    assert snapshot(gp_link, Category.ALLERGIES).reason == reason


@pytest.mark.integration
@pytest.mark.django_db
@pytest.mark.parametrize("code", ["NO_PATIENT_CONSENT", "NO_RELATIONSHIP", "PATIENT_NOT_FOUND"])
def test_a_refused_record_withdraws_what_the_practice_sent_before(gp_link, provider, code):
    fetch_link(link_id=gp_link.pk, categories=[Category.ALLERGIES], final_attempt=True)
    assert snapshot(gp_link, Category.ALLERGIES).items
    provider.behaviour = Behaviour(spine_error=code)

    fetch_link(link_id=gp_link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    refused = snapshot(gp_link, Category.ALLERGIES)
    assert (refused.status, refused.items) == (Snapshot.Status.FAILED, [])
    assert refused.reason.endswith(f"({code})")


@pytest.mark.integration
@pytest.mark.django_db
def test_the_practices_own_failure_is_retried_then_said(gp_link, provider):
    provider.behaviour = Behaviour(spine_error="INTERNAL_SERVER_ERROR")

    outcome = fetch_link(link_id=gp_link.pk, categories=[Category.ALLERGIES], final_attempt=False)
    assert outcome.remaining == [Category.ALLERGIES]  # asked again later

    outcome = fetch_link(link_id=gp_link.pk, categories=[Category.ALLERGIES], final_attempt=True)
    assert outcome.failed[Category.ALLERGIES] == (
        "source unavailable: GP Connect: the practice failed on its side (INTERNAL_SERVER_ERROR)"
    )


@pytest.mark.integration
@pytest.mark.django_db
def test_an_nhs_number_the_practice_does_not_hold_is_patient_not_found(gp_link, provider):
    Link.objects.filter(pk=gp_link.pk).update(patient=_stranger())

    outcome = fetch_link(link_id=gp_link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    assert outcome.failed[Category.ALLERGIES].endswith("(PATIENT_NOT_FOUND)")


def _stranger() -> Patient:
    from tests.factories import PatientFactory

    return PatientFactory(nhs_number="9690937200")


@pytest.mark.integration
@pytest.mark.django_db
def test_a_record_about_someone_else_shows_nothing_and_counts_against_the_practice(
    gp_link, provider
):
    provider.behaviour = Behaviour(fault="wrong_patient")

    outcome = fetch_link(link_id=gp_link.pk, categories=ASKED, final_attempt=True)

    assert set(outcome.failed.values()) == {WRONG_PATIENT}
    assert snapshot(gp_link, Category.ALLERGIES).items == []
    assert SourceSystem.objects.get(pk=gp_link.source_id).wrong_patient_count == len(ASKED)


@pytest.mark.integration
@pytest.mark.django_db
def test_invalid_resources_from_the_practice_are_withheld_and_counted(gp_link, provider):
    provider.behaviour = Behaviour(fault="invalid_fhir")

    fetch_link(link_id=gp_link.pk, categories=ASKED, final_attempt=True)

    snapshots = Snapshot.objects.filter(link=gp_link)
    assert sum(s.withheld_count for s in snapshots) > 0
    assert any("invalid (" in s.withheld_reason for s in snapshots)
    assert all(s.status == Snapshot.Status.FRESH for s in snapshots)


@pytest.mark.integration
@pytest.mark.django_db
@pytest.mark.parametrize("fault", ["timeout", "error_500", "malformed_json", "connection_drop"])
def test_the_demo_fault_switches_work_on_the_provider(gp_link, provider, fault, settings):
    gp_link.source.timeout_seconds = 0.5
    gp_link.source.save()
    provider.behaviour = Behaviour(fault=fault, hang_seconds=2)

    outcome = fetch_link(link_id=gp_link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    assert outcome.failed[Category.ALLERGIES]


@pytest.mark.integration
def test_the_provider_refuses_a_request_without_headers_or_jwt(provider):
    url = provider.base_url + "/Patient/$gpc.getstructuredrecord"
    body = parameters(provider.population.people[0].nhs_number, ["allergies"])

    bare = requests.post(url, json=body, timeout=5)
    assert bare.status_code == 400
    assert _code(bare) == "BAD_REQUEST" and "Ssp-TraceID" in _diagnostics(bare)

    requester = Requester(asid="1", organisation_ods="Y90000", organisation_name="LCR")
    from records.sources.gp_connect_request import headers

    good = headers(requester, provider_asid=provider.provider_asid, token="x")
    bad_token = requests.post(url, json=body, headers=good, timeout=5)
    assert (bad_token.status_code, _code(bad_token)) == (400, "BAD_REQUEST")

    token = access_token(requester, audience="http://elsewhere/fhir")
    wrong_aud = requests.post(
        url, json=body, headers={**good, "Authorization": f"Bearer {token}"}, timeout=5
    )
    assert "aud is not this provider's endpoint" in _diagnostics(wrong_aud)

    provider.allowed_asids = {"200000000359"}
    token = access_token(requester, audience=provider.base_url)
    denied = requests.post(
        url, json=body, headers={**good, "Authorization": f"Bearer {token}"}, timeout=5
    )
    assert (denied.status_code, _code(denied)) == (403, "ACCESS_DENIED")


@pytest.mark.integration
def test_the_provider_answers_bad_nhs_numbers_and_parameters_with_their_codes(provider):
    url = provider.base_url + "/Patient/$gpc.getstructuredrecord"
    requester = Requester(asid="1", organisation_ods="Y90000", organisation_name="LCR")
    from records.sources.gp_connect_request import headers

    token = access_token(requester, audience=provider.base_url)
    sent = headers(requester, provider_asid=provider.provider_asid, token=token)

    invalid = requests.post(url, json=parameters("1234567890", []), headers=sent, timeout=5)
    assert (invalid.status_code, _code(invalid)) == (400, "INVALID_NHS_NUMBER")
    unknown = requests.post(url, json=parameters("9690937200", []), headers=sent, timeout=5)
    assert (unknown.status_code, _code(unknown)) == (404, "PATIENT_NOT_FOUND")
    body = parameters(provider.population.people[0].nhs_number, [])
    body["parameter"].append({"name": "includeAllergies"})  # without includeResolvedAllergies
    missing_part = requests.post(url, json=body, headers=sent, timeout=5)
    assert (missing_part.status_code, _code(missing_part)) == (422, "INVALID_PARAMETER")
    provider.behaviour = Behaviour(spine_error="NO_RELATIONSHIP")
    body = parameters(provider.population.people[0].nhs_number, ["allergies"])
    no_relationship = requests.post(url, json=body, headers=sent, timeout=5)
    assert (no_relationship.status_code, _code(no_relationship)) == (403, "NO_RELATIONSHIP")


def _code(response) -> str:
    return response.json()["issue"][0]["details"]["coding"][0]["code"]


def _diagnostics(response) -> str:
    return response.json()["issue"][0]["diagnostics"]


# The FHIR version a source declares ---------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db
def test_an_r4_source_facing_the_stu3_provider_refuses_with_the_versions(gp_link, provider):
    SourceSystem.objects.filter(pk=gp_link.source_id).update(
        interface=SourceSystem.Interface.FHIR_R4_SEARCH
    )

    outcome = fetch_link(link_id=gp_link.pk, categories=[Category.ALLERGIES], final_attempt=True)

    assert outcome.failed[Category.ALLERGIES] == "this source speaks FHIR 3.0.1, configured as R4"
    assert "invalid FHIR" not in snapshot(gp_link, Category.ALLERGIES).reason


@pytest.mark.integration
@pytest.mark.django_db
def test_gp_connect_facing_an_r4_server_refuses_and_the_check_says_so(population, simulated_source):
    server = simulated_source("acute")
    source = SourceSystem.objects.create(
        ods_code="RXT", name="Thameside", kind="acute", base_url=server.base_url,
        interface=GP_CONNECT,
    )  # fmt: skip

    assert check_source(source=source) == "this source speaks FHIR 4.0.1, configured as STU3"
    source.refresh_from_db()
    assert source.declared_fhir_version == "4.0.1"
    source.interface = SourceSystem.Interface.FHIR_R4_SEARCH
    assert check_source(source=source) == ""


# The record page and the partner API --------------------------------------------------------


@pytest.mark.integration
@pytest.mark.django_db
def test_the_record_page_says_the_gp_connect_reason(gp_link, provider, client):
    gp, _team = registered_gp(gp_link, "gp")
    provider.behaviour = Behaviour(spine_error="NO_RELATIONSHIP")
    fetch_link(link_id=gp_link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)
    client.force_login(gp)

    page = client.get(reverse("patient-record", kwargs={"patient_id": gp_link.patient_id}))

    assert "says the patient is not registered with the practice (NO_RELATIONSHIP)" in (
        page.content.decode()
    )


@pytest.mark.django_db
def test_the_partner_api_leaves_stu3_out_and_says_why(monkeypatch):
    from care_record import fhir_export
    from partner_api.renderers import FhirJsonRenderer
    from tests.gp_connect_fixtures import structured_record

    items = [
        {**i.as_dict(), "source_ods_code": "Y90001"}
        for f in read(structured_record()).values()
        for i in f.items
    ]
    r4 = {
        **items[0],
        "fhir_version": "4.0.1",
        "resource": {"resourceType": "Condition", "id": "r4"},
    }
    record = _record_view([*items, r4])

    bundle = orjson.loads(FhirJsonRenderer().render(fhir_export.record_bundle(record)))

    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types.count("Condition") == 1 and "ReferralRequest" not in types
    outcome = bundle["entry"][-1]["resource"]
    [heading] = [i for i in outcome["issue"] if "Allergies from" in i["details"]["text"]]
    assert (heading["severity"], heading["code"]) == ("warning", "incomplete")
    assert f"{len(items)} in FHIR 3.0.1 (STU3) left out" in heading["details"]["text"]
    [left_out] = [i for i in outcome["issue"] if i["code"] == "not-supported"]
    assert left_out["details"]["text"].startswith(
        f"London GP ({'Y90001'}): {len(items)} item(s) in FHIR 3.0.1 (GP Connect, STU3) left out"
    )


def _record_view(items):
    from types import SimpleNamespace

    from records.fetching import SourceState

    source = SimpleNamespace(ods_code="Y90001", name="London GP", base_url="http://gp/fhir")
    state = SimpleNamespace(
        source=source, state=SourceState.UP_TO_DATE, fetched_at=None, reason="", withheld=[]
    )
    part = SimpleNamespace(
        source=source, state=SourceState.UP_TO_DATE, shown=len(items), withheld=0,
        withheld_reason="", sensitive=0, reason="",
    )  # fmt: skip
    category = SimpleNamespace(items=items, sources=[part], category="allergies", label="Allergies")
    decision = SimpleNamespace(denied_categories=[])
    return SimpleNamespace(patient=None, categories=[category], sources=[state], decision=decision)


@pytest.mark.integration
@pytest.mark.django_db
def test_check_sources_names_each_sources_version_and_fails_on_a_mismatch(gp_link, provider):
    from django.core.management import CommandError, call_command

    out = io.StringIO()
    call_command("check_sources", stdout=out)
    assert "GP Connect Access Record Structured, FHIR 3.0.1: fine" in out.getvalue()

    SourceSystem.objects.filter(pk=gp_link.source_id).update(
        interface=SourceSystem.Interface.FHIR_R4_SEARCH
    )
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 source"):
        call_command("check_sources", gp_link.source.ods_code, stdout=out)
    assert "this source speaks FHIR 3.0.1, configured as R4" in out.getvalue()


# Who asks: the professional whose look it is, for the practice's own audit ------------------

ASKED_BY = {
    "user": "dr.okafor",
    "given_name": "Ngozi",
    "family_name": "Okafor",
    "role": "gp",
    "organisation_ods": "F84001",
    "organisation": "Mile End Surgery",
}


@pytest.mark.integration
@pytest.mark.django_db
def test_the_jwt_names_the_professional_whose_look_asks(gp_link, provider):
    fetch_link(
        link_id=gp_link.pk, categories=[Category.ALLERGIES], final_attempt=True, asked_by=ASKED_BY
    )

    claims = provider.received["claims"]
    practitioner = claims["requesting_practitioner"]
    assert claims["sub"] == practitioner["id"] == "dr.okafor"
    assert {"system": LOCAL_USER_SYSTEM, "value": "dr.okafor"} in practitioner["identifier"]
    assert practitioner["name"] == [{"family": "Okafor", "given": ["Ngozi"]}]
    assert claims["requesting_organization"]["identifier"][0]["value"] == "F84001"
    assert claims["requesting_organization"]["name"] == "Mile End Surgery"


@pytest.mark.django_db
def test_a_look_sends_who_asks_with_its_fetches(
    gp_link, monkeypatch, django_capture_on_commit_callbacks
):
    from access.policy import actor_for
    from care_record.reading import read_record
    from records import fetching

    gp, team = registered_gp(gp_link)
    sent = []
    monkeypatch.setattr(fetching, "_send", lambda jobs, asked_by=None: sent.append(asked_by))

    with django_capture_on_commit_callbacks(execute=True):
        read_record(actor=actor_for(gp, team.pk), patient=gp_link.patient, channel="web")

    assert sent and sent[0]["user"] == "dr.okafor"
    assert (sent[0]["organisation_ods"], sent[0]["role"]) == ("F84001", "gp")


def test_without_a_professional_the_record_itself_asks():
    from records.fetching import gp_connect_requester

    assert gp_connect_requester(None).practitioner_local_id == ""
    assert gp_connect_requester({"user": "nurse"}).practitioner_local_id == "nurse"


# What the review of issue 15 found: said, not silently empty ---------------------------------


@pytest.mark.integration
@pytest.mark.django_db
def test_a_heading_the_structured_record_does_not_carry_says_so(gp_link, provider):
    """The practice may hold flags and appointments: they are not 'None recorded'."""
    fetch_link(link_id=gp_link.pk, categories=[Category.FLAGS], final_attempt=True)

    flags = snapshot(gp_link, Category.FLAGS)
    assert (flags.status, flags.reason) == (Snapshot.Status.FAILED, NOT_CARRIED)
    assert provider._requests.get("Patient", 0) == 0  # nothing was asked for it


@pytest.mark.parametrize(
    "system",
    [
        "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1",
        "https://fhir.nhs.uk/STU3/ValueSet/Spine-ErrorOrWarningCode-1",
    ],
)
@pytest.mark.parametrize("code", ["ACCESS DENIED", "ACCESS_DENIED"])
def test_access_denied_is_a_refusal_however_the_provider_writes_it(system, code):
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"details": {"coding": [{"system": system, "code": code}]}}],
    }
    error = spine_error(403, outcome)
    assert isinstance(error, RecordRefused)
    assert error.reason.endswith("(ACCESS_DENIED)")


@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_refusal_without_a_spine_code_withdraws_the_record(status):
    assert isinstance(spine_error(status, None), RecordRefused)


def test_each_prescription_issue_is_not_another_medicine():
    [medicine] = read(fixtures.structured_record())["medicines"].items
    assert medicine.resource_type == "MedicationStatement"


@pytest.mark.integration
@pytest.mark.django_db
def test_the_practice_reads_up_to_date_while_its_uncarried_headings_say_why(gp_link, provider):
    from access.policy import actor_for
    from care_record.reading import read_record

    gp, team = registered_gp(gp_link)
    fetch_link(link_id=gp_link.pk, categories=list(ALL_CATEGORIES), final_attempt=True)

    record = read_record(
        actor=actor_for(gp, team.pk), patient=gp_link.patient, channel="web", refresh=False
    )

    [practice] = record.sources
    assert practice.state.answered
    assert any(NOT_CARRIED in line for line in practice.withheld)
    flags = next(c for c in record.categories if c.category == Category.FLAGS)
    assert not flags.complete
    allergies = next(c for c in record.categories if c.category == Category.ALLERGIES)
    assert allergies.items


def test_what_the_practices_lists_say_it_did_not_send_makes_the_heading_incomplete():
    """GP Connect's list warnings and an empty reason of 'withheld' give no count, but the
    heading must not read as complete."""
    resources = [dict(r) for r in fixtures.RESOURCES]
    for resource in resources:
        if resource["resourceType"] == "List" and resource["code"]["coding"][0]["code"] == (
            "717711000000103"
        ):
            resource["extension"] = [
                {
                    "url": "https://fhir.nhs.uk/STU3/StructureDefinition/"
                    "Extension-CareConnect-GPC-ListWarningCode-1",
                    "valueCode": "confidential-items",
                }
            ]
    resources.append(
        {
            "resourceType": "List",
            "id": "list-imms",
            "status": "current",
            "mode": "snapshot",
            "code": {"coding": [{"system": fixtures.SNOMED, "code": "1102181000000102"}]},
            "subject": fixtures.SUBJECT,
            "emptyReason": {"coding": [{"code": "withheld"}]},
        }
    )

    record = read(fixtures.structured_record(resources))

    assert record["problems"].items  # what was sent is shown
    assert "left out items it holds as confidential" in record["problems"].withheld_reason
    assert record["immunisations"].withheld_reason == "the practice withheld this area"
    assert record["allergies"].withheld_reason == ""


@pytest.mark.integration
@pytest.mark.django_db
def test_the_simulated_practice_says_when_it_keeps_problems_confidential(provider, population):
    """The demo's practice warns of confidential problems for some people (index 3 mod 10), as
    GP Connect's List warning does; the heading says the practice left items out."""
    person = next(p for p in population.people if p.index % 10 == 3 and p.known_to("gp"))
    register_population(population)
    link = link_to_provider(population, provider, person)

    fetch_link(link_id=link.pk, categories=[Category.PROBLEMS], final_attempt=True)

    problems = snapshot(link, Category.PROBLEMS)
    assert "left out items it holds as confidential" in problems.withheld_reason
