"""PDS as the register's identity source, over real HTTP against the simulated PDS: reading and
searching as the PDS FHIR API answers, superseded numbers followed, restricted people stored
without contact details, and identity sync linking only on numbers PDS has traced."""

import logging
import uuid
from collections import Counter

import pytest
from nhs_number import calculate_checksum

from demo.load import register_population
from demo.pds import SimulatedPds
from demo.pds_people import restricted_people, superseded_numbers
from demo.population import generate
from demo.sources import Behaviour
from records.confidentiality import RESTRICTED_DETAILS, Confidentiality
from records.fetching import response_limits
from records.identity_sync import sync_source_identities
from records.models import (
    IdentitySyncRun,
    Link,
    Patient,
    SourceSystem,
    SupersededNhsNumber,
    UnmatchedRecord,
)
from records.sources.errors import SourceUnavailable
from records.sources.pds import (
    InvalidNhsNumber,
    InvalidSearch,
    NhsNumberNotKnown,
    PdsClient,
    PdsRefused,
    TooManyMatches,
    read_pds_patient,
)

pytestmark = pytest.mark.integration

TOKEN = "test-pds-token"


@pytest.fixture
def simulated_pds(population):
    started = []

    def start(population=population, **options) -> SimulatedPds:
        server = SimulatedPds(population, access_token=TOKEN, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def client_of(server: SimulatedPds, *, timeout: float = 2.0, token: str = TOKEN) -> PdsClient:
    return PdsClient(server.base_url, timeout=timeout, limits=response_limits(), access_token=token)


def unknown_number(population) -> str:
    taken = {person.nhs_number for person in population.people}
    for stem in range(999_000_000, 999_999_999):
        check = calculate_checksum(str(stem))
        if check != 10 and f"{stem}{check}" not in taken:
            return f"{stem}{check}"
    raise AssertionError("no free number")


def with_wrong_check_digit(number: str) -> str:
    return number[:9] + str((int(number[9]) + 1) % 10)


# The adapter


def test_reading_a_patient_gives_pds_demographics_and_sends_pds_headers(population, simulated_pds):
    server = simulated_pds()
    person = population.people[0]

    found = client_of(server).read(person.nhs_number)

    assert (found.nhs_number, found.superseded) == (person.nhs_number, "")
    assert (found.family_name, found.given_names) == (
        person.family_name,
        " ".join(person.given_names),
    )
    assert (found.birth_date, found.sex, found.prefix) == (
        person.birth_date,
        person.sex,
        person.prefix,
    )
    assert found.postcode == person.postcode
    assert found.gp_practice_ods_code == person.gp_practice.ods_code
    assert found.confidentiality == Confidentiality.UNRESTRICTED
    client = client_of(server)
    client.read(person.nhs_number)
    client.read(person.nhs_number)
    ids = server.request_ids[-2:]
    assert len(set(ids)) == 2 and all(uuid.UUID(request_id) for request_id in ids)


def test_a_wrong_token_is_refused_as_pds_says(population, simulated_pds):
    server = simulated_pds()
    with pytest.raises(PdsRefused, match="ACCESS_DENIED"):
        client_of(server, token="not-the-token").read(population.people[0].nhs_number)


def test_reading_a_superseded_number_answers_with_the_current_one(population, simulated_pds):
    current, old = next(iter(superseded_numbers(population).items()))

    found = client_of(simulated_pds()).read(old)

    assert (found.nhs_number, found.superseded) == (current, old)


def test_a_number_pds_does_not_know_and_an_invalid_one_say_so(population, simulated_pds):
    client = client_of(simulated_pds())
    with pytest.raises(NhsNumberNotKnown) as unknown:
        client.read(unknown_number(population))
    assert unknown.value.code == "RESOURCE_NOT_FOUND"
    with pytest.raises(InvalidNhsNumber) as invalid:
        client.read(with_wrong_check_digit(population.people[0].nhs_number))
    assert invalid.value.code == "INVALID_RESOURCE_ID"


def test_a_restricted_person_comes_labelled_and_without_contact_details(population, simulated_pds):
    person = restricted_people(population)[0]
    server = simulated_pds()

    found = client_of(server).read(person.nhs_number)

    assert found.confidentiality == Confidentiality.RESTRICTED
    assert found.restricted
    assert not any(getattr(found, name, "") for name in RESTRICTED_DETAILS)
    raw = client_of(server).get_json(f"{server.base_url}/Patient/{person.nhs_number}")
    assert not {"address", "telecom", "generalPractitioner", "contact"} & set(raw)


def test_a_restricted_label_as_pds_published_examples_spell_it_is_read():
    # Modelled on the PDS API's sensitive-patient example: its own security system.
    resource = {
        "resourceType": "Patient",
        "id": "9000000025",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000025"}],
        "meta": {
            "versionId": "2",
            "security": [
                {
                    "system": "https://www.hl7.org/fhir/valueset-security-labels.html",
                    "code": "R",
                    "display": "restricted",
                }
            ],
        },
        "name": [{"use": "usual", "family": "Smythe", "given": ["Janet"], "prefix": ["Mrs"]}],
        "gender": "female",
        "birthDate": "2005-06-16",
        "address": [{"use": "home", "line": ["1 Trevelyan Square"], "postalCode": "LS1 6AE"}],
    }

    found = read_pds_patient(resource)

    assert found.confidentiality == Confidentiality.RESTRICTED
    assert (found.postcode, found.address_lines) == ("", "")
    assert (found.family_name, found.prefix) == ("Smythe", "Mrs")


def test_search_finds_the_person_with_pds_score_best_first(population, simulated_pds):
    person = population.people[3]
    client = client_of(simulated_pds())

    exact = client.search(
        family=person.family_name,
        given=person.given_names[0],
        birth_date=person.birth_date,
        gender=person.sex,
    )
    wildcard = client.search(family=person.family_name[:2] + "*", birth_date=person.birth_date)

    assert [(m.score, m.patient.nhs_number) for m in exact] == [(1.0, person.nhs_number)]
    assert [m.patient.nhs_number for m in wildcard] == [person.nhs_number]
    assert wildcard[0].score < 1.0
    assert client.search(family="Nobody", birth_date=person.birth_date) == []


def test_search_with_too_many_matches_or_bad_parameters_says_what_to_change(simulated_pds):
    crowd = generate(seed=7, patients=1500)
    born, _ = next(
        (day, n) for day, n in Counter(p.birth_date for p in crowd.people).items() if n > 1
    )
    client = client_of(simulated_pds(crowd))

    assert len(client.search(family="*", birth_date=born)) >= 2
    with pytest.raises(TooManyMatches):
        client.search(family="*", birth_date=born, max_results=1)
    with pytest.raises(InvalidSearch) as bad:
        client.search(family="Smith", birth_date=born, gender="mal")
    assert bad.value.code == "INVALID_VALUE"


def test_pds_down_or_slow_is_unavailable_with_a_reason(population, simulated_pds):
    server = simulated_pds()
    server.behaviour = Behaviour(latency_ms=1500)
    with pytest.raises(SourceUnavailable, match="timed out"):
        client_of(server, timeout=0.3).read(population.people[0].nhs_number)
    server.behaviour = Behaviour(fault="error_500")
    with pytest.raises(SourceUnavailable, match="server error 500"):
        client_of(server).read(population.people[0].nhs_number)
    base_url = server.base_url
    server.stop()
    down = PdsClient(base_url, timeout=1.0, limits=response_limits())
    with pytest.raises(SourceUnavailable, match="could not connect"):
        down.read(population.people[0].nhs_number)


# Identity sync through PDS


@pytest.fixture
def register(population, db):
    register_population(population)
    return population


@pytest.fixture
def with_pds(simulated_pds, settings):
    def configure(**options) -> SimulatedPds:
        server = simulated_pds(**options)
        settings.LCR_PDS_BASE_URL = server.base_url
        settings.LCR_PDS_ACCESS_TOKEN = TOKEN
        settings.LCR_PDS_TIMEOUT_SECONDS = 1.0
        return server

    return configure


def source_row(population, server, key: str) -> SourceSystem:
    spec = population.source(key)
    return SourceSystem.objects.create(
        ods_code=spec.ods_code, name=spec.name, kind=spec.kind, base_url=server.base_url
    )


@pytest.mark.django_db
def test_a_superseded_number_is_followed_and_linked_to_the_current_patient(
    register, simulated_source, with_pds
):
    with_pds()
    source = source_row(register, simulated_source("social_care"), "social_care")
    superseded = superseded_numbers(register)
    assert superseded, "the demo population must have a superseded number at social care"

    run = sync_source_identities(source_id=source.pk)

    assert run.status == IdentitySyncRun.Status.SUCCEEDED
    assert run.superseded == len(superseded)
    for current, old in superseded.items():
        person = register.person_by_nhs_number(current)
        link = Link.objects.get(source=source, local_id=person.local_ids["social_care"])
        assert link.patient.nhs_number == current
        assert SupersededNhsNumber.objects.get(nhs_number=old).patient == link.patient
        assert not Patient.objects.filter(nhs_number=old).exists()
    again = sync_source_identities(source_id=source.pk)
    assert (again.linked, again.mismatched) == (0, 0)


@pytest.mark.django_db
def test_without_pds_a_superseded_number_is_not_linked_on(register, simulated_source):
    source = source_row(register, simulated_source("social_care"), "social_care")

    sync_source_identities(source_id=source.pk)

    for current in superseded_numbers(register):
        local_id = register.person_by_nhs_number(current).local_ids["social_care"]
        record = UnmatchedRecord.objects.get(source=source, local_id=local_id)
        assert record.reason == UnmatchedRecord.Reason.UNKNOWN_NHS_NUMBER


@pytest.mark.django_db
def test_sync_stores_pds_label_and_no_contact_details_for_a_restricted_person(
    register, simulated_source, with_pds
):
    with_pds()
    person = restricted_people(register)[0]
    # The register held them unlabelled, with an address (as before PDS was asked).
    Patient.objects.filter(nhs_number=person.nhs_number).update(
        confidentiality=Confidentiality.UNRESTRICTED, postcode="E1 6AN", phone="07700 900123"
    )
    source = source_row(register, simulated_source("gp"), "gp")

    run = sync_source_identities(source_id=source.pk)

    patient = Patient.objects.get(nhs_number=person.nhs_number)
    assert run.status == IdentitySyncRun.Status.SUCCEEDED
    assert patient.confidentiality == Confidentiality.RESTRICTED
    assert all(getattr(patient, name) == "" for name in RESTRICTED_DETAILS)
    assert patient.links.filter(source=source).exists()


@pytest.mark.django_db
def test_sync_creates_the_register_entry_from_pds(register, simulated_source, with_pds):
    with_pds()
    person = register.people[4]
    Patient.objects.filter(nhs_number=person.nhs_number).delete()
    source = source_row(register, simulated_source("gp"), "gp")

    sync_source_identities(source_id=source.pk)

    patient = Patient.objects.get(nhs_number=person.nhs_number)
    assert (patient.family_name, patient.birth_date) == (person.family_name, person.birth_date)
    assert patient.postcode == person.postcode
    assert patient.links.get().local_id == person.local_ids["gp"]


@pytest.mark.django_db
def test_a_number_pds_does_not_know_goes_to_review_with_the_reason(
    register, simulated_source, with_pds
):
    with_pds(population=generate(seed=7, patients=50))  # PDS knows only the first fifty
    source = source_row(register, simulated_source("gp"), "gp")

    run = sync_source_identities(source_id=source.pk)

    strangers = register.people[50:]
    assert run.queued == len(strangers)
    for person in strangers:
        record = UnmatchedRecord.objects.get(source=source, local_id=person.local_ids["gp"])
        assert record.reason == UnmatchedRecord.Reason.NOT_KNOWN_TO_PDS
        assert not Link.objects.filter(source=source, local_id=person.local_ids["gp"]).exists()
    assert Link.objects.filter(source=source).count() == 50


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (Behaviour(fault="connection_drop"), "could not connect"),
        (Behaviour(latency_ms=2500), "timed out"),
        (Behaviour(fault="error_500", times=5), "server error 500"),
    ],
)
def test_pds_down_or_slow_fails_the_run_links_nobody_and_is_retried(
    register, simulated_source, with_pds, caplog, behaviour, reason
):
    server = with_pds()
    server.behaviour = behaviour
    source = source_row(register, simulated_source("gp"), "gp")

    with (
        caplog.at_level(logging.WARNING, logger="records.identity_sync"),
        pytest.raises(SourceUnavailable, match="PDS could not be asked"),
    ):
        sync_source_identities(source_id=source.pk)

    run = IdentitySyncRun.objects.get(source=source)
    assert run.status == IdentitySyncRun.Status.FAILED
    assert run.error.startswith("PDS could not be asked")
    assert reason in run.error
    assert "nothing was linked" in run.error
    assert not Link.objects.exists()
    assert not UnmatchedRecord.objects.exists()
    assert "PDS could not be asked" in caplog.text


@pytest.mark.django_db
def test_pds_refusing_our_credentials_fails_the_run_without_retrying(
    register, simulated_source, with_pds, settings
):
    with_pds()
    settings.LCR_PDS_ACCESS_TOKEN = "wrong"
    source = source_row(register, simulated_source("gp"), "gp")

    run = sync_source_identities(source_id=source.pk)

    assert run.status == IdentitySyncRun.Status.FAILED
    assert "ACCESS_DENIED" in run.error
    assert not Link.objects.exists()


@pytest.mark.django_db
def test_an_unusable_pds_answer_for_a_record_leaves_it_unlinked_with_the_reason(
    register, simulated_source, with_pds
):
    server = with_pds()
    server.behaviour = Behaviour(fault="invalid_fhir", times=1)  # the first number read
    source = source_row(register, simulated_source("gp"), "gp")

    run = sync_source_identities(source_id=source.pk)

    first = min(person.nhs_number for person in register.people)
    person = register.person_by_nhs_number(first)
    assert run.status == IdentitySyncRun.Status.SUCCEEDED
    assert run.rejected == 1
    assert {"id": person.local_ids["gp"], "reason": "PDS's answer was unusable: PDS sent an "
            "invalid FHIR Patient"} in run.rejections  # fmt: skip
    assert not Link.objects.filter(source=source, local_id=person.local_ids["gp"]).exists()
    assert not UnmatchedRecord.objects.filter(source=source).exists()
    assert run.linked == len(register.people) - 1


def test_an_email_pds_holds_that_is_not_one_is_left_out_rather_than_failing_the_register():
    resource = {
        "resourceType": "Patient",
        "id": "9000000009",
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9000000009"}],
        "name": [{"use": "usual", "family": "Smith", "given": ["Jane"]}],
        "birthDate": "2010-10-22",
        "telecom": [
            {"system": "email", "value": "jane at example"},
            {"system": "phone", "value": "01632960587"},
        ],
    }

    found = read_pds_patient(resource)

    assert (found.email, found.phone) == ("", "01632960587")
