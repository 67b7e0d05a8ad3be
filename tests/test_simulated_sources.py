"""Simulated FHIR sources over real HTTP: searches, paging, valid R4 and every misbehaviour."""

import json
import signal
import subprocess
import sys
import time

import pytest
import requests
from fhir.resources.R4B import get_fhir_model_class

from demo.clinical import SERVED_TYPES
from demo.fhir_resources import LOCAL_ID_SYSTEMS, NHS_NUMBER_SYSTEM
from demo.population import generate
from demo.sources import Behaviour, SimulatedSource, serve_all

pytestmark = pytest.mark.integration

TIMEOUT = 5


@pytest.fixture(scope="module")
def people():
    return generate(seed=11, patients=200)


@pytest.fixture
def start(people):
    """Start a source of the module's population on a free port; stopped after the test."""
    started = []

    def start_source(key: str) -> SimulatedSource:
        source = SimulatedSource(people, key).start()
        started.append(source)
        return source

    yield start_source
    for source in started:
        source.stop()


def get(url: str, **params) -> requests.Response:
    return requests.get(url, params=params, timeout=TIMEOUT)


def validate(resource: dict) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def resources(bundle: dict) -> list[dict]:
    return [entry["resource"] for entry in bundle["entry"]]


def reference_of(resource: dict) -> str:
    if resource["resourceType"] == "Appointment":
        return resource["participant"][0]["actor"]["reference"]
    holder = (
        "patient"
        if resource["resourceType"] in ("AllergyIntolerance", "Immunization")
        else "subject"
    )
    return resource[holder]["reference"]


def someone_with(people, key: str, resource_type: str):
    for person in people.people_at(key):
        source = SimulatedSource(people, key)
        if source._clinical(person, resource_type):
            return person
    raise AssertionError(f"nobody at {key} has a {resource_type}")


def test_metadata_is_a_capability_statement_listing_what_the_source_serves(start):
    source = start("community")
    response = get(f"{source.base_url}/metadata")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    statement = response.json()
    validate(statement)
    served = [r["type"] for r in statement["rest"][0]["resource"]]
    assert served == ["Patient", *SERVED_TYPES["community"]]


@pytest.mark.parametrize("with_system", [True, False])
def test_patient_search_by_nhs_number_finds_the_person(start, people, with_system):
    source = start("acute")
    person = people.people_at("acute")[3]
    value = f"{NHS_NUMBER_SYSTEM}|{person.nhs_number}" if with_system else person.nhs_number
    bundle = get(f"{source.base_url}/Patient", identifier=value).json()
    assert bundle["total"] == 1
    patient = resources(bundle)[0]
    validate(patient)
    assert patient["id"] == person.local_ids["acute"]
    assert {"system": NHS_NUMBER_SYSTEM, "value": person.nhs_number}.items() <= patient[
        "identifier"
    ][0].items()


def test_patient_search_by_local_identifier_and_for_a_stranger(start, people):
    source = start("gp")
    person = people.people[5]
    local = f"{LOCAL_ID_SYSTEMS['gp']}|{person.local_ids['gp']}"
    assert (
        resources(get(f"{source.base_url}/Patient", identifier=local).json())[0]["id"]
        == (person.local_ids["gp"])
    )
    stranger = get(f"{source.base_url}/Patient", identifier="9990000000").json()
    assert (stranger["total"], stranger["entry"]) == (0, [])


def test_social_care_patients_without_nhs_number_carry_only_the_local_identifier(start, people):
    source = start("social_care")
    person = next(
        p
        for p in people.people_at("social_care")
        if p.source_views["social_care"].nhs_number is None
    )
    patient = get(f"{source.base_url}/Patient/{person.local_ids['social_care']}").json()
    assert [i["system"] for i in patient["identifier"]] == [LOCAL_ID_SYSTEMS["social_care"]]
    assert get(f"{source.base_url}/Patient", identifier=person.nhs_number).json()["total"] == 0


def test_patient_read_and_unknown_patient_gives_404_operation_outcome(start, people):
    source = start("gp")
    person = people.people[0]
    patient = get(f"{source.base_url}/Patient/{person.local_ids['gp']}").json()
    assert patient["name"][0]["family"] == person.family_name
    missing = get(f"{source.base_url}/Patient/GP-nobody")
    assert missing.status_code == 404
    validate(missing.json())
    assert missing.json()["resourceType"] == "OperationOutcome"


def test_paging_returns_every_patient_exactly_once(start, people):
    source = start("gp")
    url, seen, pages = f"{source.base_url}/Patient?_count=7", [], 0
    while url:
        bundle = requests.get(url, timeout=TIMEOUT).json()
        validate(bundle)
        assert bundle["total"] == len(people.people)
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert "self" in links
        seen += [patient["id"] for patient in resources(bundle)]
        url, pages = links.get("next"), pages + 1
        assert url is None or url.startswith(source.base_url)
    assert pages == -(-len(people.people) // 7)
    assert sorted(seen) == sorted(p.local_ids["gp"] for p in people.people)
    assert len(seen) == len(set(seen))


def test_page_numbers_and_page_size_limits(start, people):
    source = start("gp")
    second = get(f"{source.base_url}/Patient", _count=10, _page=2).json()
    assert [p["id"] for p in resources(second)] == [p.local_ids["gp"] for p in people.people[10:20]]
    assert len(get(f"{source.base_url}/Patient", _count=100_000).json()["entry"]) == 200
    assert get(f"{source.base_url}/Patient", _count="many").status_code == 400


@pytest.mark.parametrize("parameter", ["patient={id}", "patient=Patient/{id}", "subject={id}"])
def test_clinical_search_returns_only_that_patients_resources(start, people, parameter):
    source = start("acute")
    person = someone_with(people, "acute", "Observation")
    local_id = person.local_ids["acute"]
    query = parameter.format(id=local_id)
    bundle = requests.get(f"{source.base_url}/Observation?{query}", timeout=TIMEOUT).json()
    assert bundle["total"] == len(bundle["entry"]) > 0
    assert {reference_of(r) for r in resources(bundle)} == {f"Patient/{local_id}"}


def test_clinical_resources_can_be_read_by_id(start, people):
    source = start("acute")
    person = someone_with(people, "acute", "DocumentReference")
    bundle = get(f"{source.base_url}/DocumentReference", patient=person.local_ids["acute"]).json()
    document = resources(bundle)[0]
    assert get(f"{source.base_url}/DocumentReference/{document['id']}").json() == document
    assert get(f"{source.base_url}/Observation/{document['id']}").status_code == 404


def test_search_errors_are_operation_outcomes_and_unheld_types_are_empty(start, people):
    source = start("social_care")
    local_id = people.people_at("social_care")[0].local_ids["social_care"]
    unknown = get(f"{source.base_url}/Spaceship", patient=local_id)
    missing_patient = get(f"{source.base_url}/CarePlan")
    for response, status in ((unknown, 404), (missing_patient, 400)):
        assert response.status_code == status
        assert response.json()["resourceType"] == "OperationOutcome"
        validate(response.json())
    not_held = get(f"{source.base_url}/MedicationRequest", patient=local_id).json()
    assert (not_held["total"], not_held["entry"]) == (0, [])


@pytest.mark.parametrize("key", list(SERVED_TYPES))
def test_every_resource_type_served_validates_as_fhir_r4(start, people, key):
    source = start(key)
    types_seen = set()
    for person in people.people_at(key):
        if types_seen == set(SERVED_TYPES[key]):
            break
        local_id = person.local_ids[key]
        validate(get(f"{source.base_url}/Patient/{local_id}").json())
        for resource_type in SERVED_TYPES[key]:
            bundle = get(f"{source.base_url}/{resource_type}", patient=local_id, _count=500).json()
            validate(bundle)
            matches = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
            types_seen |= {entry["resource"]["resourceType"] for entry in matches}
    assert types_seen == set(SERVED_TYPES[key])


def test_timeout_fault_hangs_until_the_client_gives_up(start):
    source = start("gp")
    source.behaviour = Behaviour(fault="timeout", hang_seconds=2)
    with pytest.raises(requests.Timeout):
        requests.get(f"{source.base_url}/metadata", timeout=0.3)


def test_a_hanging_request_does_not_hold_up_stopping_the_server(start):
    source = start("gp")
    source.behaviour = Behaviour(fault="timeout")  # the default 30 second hang
    with pytest.raises(requests.Timeout):
        requests.get(f"{source.base_url}/metadata", timeout=0.2)
    started = time.perf_counter()
    source.stop()
    assert time.perf_counter() - started < 2


def test_error_500_fault_answers_with_an_operation_outcome(start):
    source = start("gp")
    source.behaviour = Behaviour(fault="error_500")
    response = get(f"{source.base_url}/Patient")
    assert response.status_code == 500
    validate(response.json())


def test_rate_limit_fault_answers_429_with_retry_after(start):
    source = start("gp")
    source.behaviour = Behaviour(fault="rate_limit", retry_after=3)
    response = get(f"{source.base_url}/Patient")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"


def test_malformed_json_fault_sends_a_body_that_does_not_parse(start):
    source = start("gp")
    source.behaviour = Behaviour(fault="malformed_json")
    response = get(f"{source.base_url}/Patient")
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.text)


def test_invalid_fhir_fault_sends_json_that_fails_r4_validation(start, people):
    source = start("gp")
    source.behaviour = Behaviour(fault="invalid_fhir")
    bundle = get(f"{source.base_url}/Patient", _count=5).json()
    with pytest.raises(ValueError):
        validate(bundle)
    patient = get(f"{source.base_url}/Patient/{people.people[1].local_ids['gp']}").json()
    with pytest.raises(ValueError):
        validate(patient)


def test_wrong_patient_fault_mixes_in_another_persons_resources(start, people):
    source = start("gp")
    person = people.people[2]
    source.behaviour = Behaviour(fault="wrong_patient")
    bundle = get(f"{source.base_url}/Encounter", patient=person.local_ids["gp"]).json()
    references = {reference_of(r) for r in resources(bundle)}
    assert f"Patient/{person.local_ids['gp']}" in references
    assert references - {f"Patient/{person.local_ids['gp']}"}, "no foreign resource"
    found = get(f"{source.base_url}/Patient", identifier=person.nhs_number).json()
    assert resources(found)[0]["id"] != person.local_ids["gp"]


def test_fail_mid_paging_fault_serves_page_one_then_fails(start):
    source = start("gp")
    source.behaviour = Behaviour(fault="fail_mid_paging")
    first = get(f"{source.base_url}/Patient", _count=10)
    assert first.status_code == 200
    next_url = {link["relation"]: link["url"] for link in first.json()["link"]}["next"]
    assert requests.get(next_url, timeout=TIMEOUT).status_code == 500


def test_connection_drop_fault_closes_the_connection_without_an_answer(start):
    source = start("gp")
    source.behaviour = Behaviour(fault="connection_drop")
    with pytest.raises(requests.ConnectionError):
        get(f"{source.base_url}/metadata")


def test_a_fault_limited_to_one_time_recovers_on_the_second_request(start):
    source = start("gp")
    source.behaviour = Behaviour(fault="error_500", times=1)
    assert get(f"{source.base_url}/Patient").status_code == 500
    assert get(f"{source.base_url}/Patient").status_code == 200
    assert get(f"{source.base_url}/Patient").status_code == 200


def test_a_fault_scoped_to_some_types_leaves_the_others_alone(start, people):
    source = start("gp")
    local_id = people.people[0].local_ids["gp"]
    source.behaviour = Behaviour(fault="error_500", only_types=frozenset({"Observation"}))
    assert get(f"{source.base_url}/Observation", patient=local_id).status_code == 500
    assert get(f"{source.base_url}/Condition", patient=local_id).status_code == 200
    assert get(f"{source.base_url}/Patient/{local_id}").status_code == 200


def test_latency_measurably_delays_every_response(start):
    source = start("gp")
    started = time.perf_counter()
    get(f"{source.base_url}/metadata")
    quick = time.perf_counter() - started
    source.behaviour = Behaviour(latency_ms=400)
    started = time.perf_counter()
    assert get(f"{source.base_url}/metadata").status_code == 200
    assert time.perf_counter() - started >= 0.4 > quick


def test_behaviour_refuses_an_unknown_fault():
    with pytest.raises(ValueError, match="unknown fault"):
        Behaviour(fault="gremlins")


def test_behaviour_can_be_set_read_and_reset_over_http(start):
    source = start("gp")
    control = source.base_url.removesuffix("/fhir") + "/_sim/behaviour"
    put = requests.put(
        control, json={"fault": "rate_limit", "only_types": ["Patient"], "times": 2}, timeout=5
    )
    assert put.status_code == 200
    assert source.behaviour == Behaviour(
        fault="rate_limit", only_types=frozenset({"Patient"}), times=2
    )
    assert get(control).json()["only_types"] == ["Patient"]
    assert get(f"{source.base_url}/Patient").status_code == 429
    assert requests.put(control, json={"fault": "gremlins"}, timeout=5).status_code == 400
    assert requests.put(control, json={"colour": "red"}, timeout=5).status_code == 400
    assert requests.delete(control, timeout=5).json() == Behaviour().to_json()
    assert get(f"{source.base_url}/Patient").status_code == 200


def test_request_counter_counts_fhir_requests_and_can_be_reset(start, people):
    source = start("gp")
    counter = source.base_url.removesuffix("/fhir") + "/_sim/requests"
    get(f"{source.base_url}/metadata")
    get(f"{source.base_url}/Patient")
    get(f"{source.base_url}/Condition", patient=people.people[0].local_ids["gp"])
    counts = get(counter).json()
    assert counts["count"] == 3
    assert counts["by_type"] == {"metadata": 1, "Patient": 1, "Condition": 1}
    assert requests.delete(counter, timeout=5).json()["count"] == 0


def test_serve_all_starts_the_five_sources_in_order(people):
    sources = serve_all(people, host="127.0.0.1", base_port=0)
    try:
        assert [s.source.key for s in sources] == [spec.key for spec in people.sources]
        assert len({s.base_url for s in sources}) == 5
        for source in sources:
            assert get(f"{source.base_url}/metadata").status_code == 200
    finally:
        for source in sources:
            source.stop()


def test_command_line_serves_every_source_until_terminated():
    process = subprocess.Popen(
        [sys.executable, "-m", "demo.sources", "--patients", "20", "--base-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        lines = [process.stdout.readline().split() for _ in range(5)]
        assert [line[0] for line in lines] == [
            "gp",
            "acute",
            "community",
            "mental_health",
            "social_care",
        ]
        assert get(f"{lines[1][-1]}/Patient", _count=1).json()["total"] > 0
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
