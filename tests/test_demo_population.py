"""The synthetic population and its clinical content: deterministic, plausible, valid FHIR R4."""

import time
from collections import Counter
from datetime import datetime

import nhs_number
import pytest
from fhir.resources.R4B import get_fhir_model_class

from demo import fhir_resources as fhir
from demo.clinical import SERVED_TYPES, medications_for, resources_for
from demo.population import (
    COVERAGE,
    LONDON_OUTWARD_CODES,
    POSTCODE_PATTERN,
    REFERENCE_DATE,
    SOURCE_KEYS,
    SOURCES,
    generate,
)
from records.sources.resource_types import CATEGORY_RESOURCE_TYPES
from records.sources.view_items import view_item

SEED = 2026


@pytest.fixture(scope="module")
def population():
    return generate(seed=SEED, patients=400)


def all_resources(population, people=None):
    """(source key, person, resource) for every clinical resource held about `people`."""
    for person in people if people is not None else population.people:
        for key in person.local_ids:
            for resources in resources_for(population, person, key).values():
                for resource in resources:
                    yield key, person, resource


def test_same_seed_and_size_give_an_identical_population(population):
    again = generate(seed=SEED, patients=400)
    assert again == population
    assert repr(again) == repr(population)


def test_a_different_seed_gives_a_different_population(population):
    other = generate(seed=SEED + 1, patients=400)
    assert [p.nhs_number for p in other.people] != [p.nhs_number for p in population.people]
    assert [p.family_name for p in other.people] != [p.family_name for p in population.people]


def test_a_smaller_population_is_the_start_of_a_larger_one(population):
    assert generate(seed=SEED, patients=60).people == population.people[:60]


def test_ten_thousand_people_are_generated_in_a_few_seconds():
    started = time.perf_counter()
    big = generate(seed=SEED, patients=10_000)
    assert len(big.people) == 10_000
    assert time.perf_counter() - started < 8


def test_nhs_numbers_are_valid_unique_and_in_the_synthetic_999_range(population):
    numbers = [person.nhs_number for person in population.people]
    assert len(set(numbers)) == len(numbers)
    for number in numbers:
        assert len(number) == 10 and number.startswith("999")
        assert nhs_number.is_valid(number)


def test_everyone_is_known_to_the_gp_source_and_registered_with_a_named_gp(population):
    for person in population.people:
        assert person.known_to("gp")
        assert person.gp_practice in population.practices
        assert person.gp_name.startswith("Dr ")


def test_each_source_covers_roughly_its_share_of_the_population(population):
    for key, share in COVERAGE.items():
        covered = len(population.people_at(key)) / len(population.people)
        assert covered == pytest.approx(share, abs=0.07), key


def test_sources_are_five_one_per_kind_keyed_by_kind():
    assert [source.key for source in SOURCES] == list(SOURCE_KEYS)
    assert [source.kind for source in SOURCES] == [
        "gp",
        "acute",
        "community",
        "mental_health",
        "social_care",
    ]


@pytest.mark.parametrize("size", [5, 400])
def test_someone_is_known_to_all_five_sources(size):
    people = generate(seed=SEED, patients=size).people
    assert any(set(person.local_ids) == set(SOURCE_KEYS) for person in people)


def test_local_ids_are_unique_per_source_and_in_each_sources_format(population):
    prefixes = {"gp": "GP-", "acute": "RXT", "community": "CH-", "mental_health": "MH-"}
    for key in SOURCE_KEYS:
        ids = [person.local_ids[key] for person in population.people_at(key)]
        assert len(set(ids)) == len(ids)
        assert all(local_id.startswith(prefixes.get(key, "LAS-")) for local_id in ids)
        for local_id in ids:
            assert population.person_by_local_id(key, local_id).local_ids[key] == local_id
    assert population.person_by_local_id("gp", "GP-nobody") is None


def test_each_source_view_carries_that_sources_local_id(population):
    for person in population.people:
        assert set(person.source_views) == set(person.local_ids)
        for key, view in person.source_views.items():
            assert view.local_id == person.local_ids[key]
            assert view.birth_date == person.birth_date


def test_about_a_third_of_social_care_records_have_no_nhs_number(population):
    views = [p.source_views["social_care"] for p in population.people_at("social_care")]
    without = sum(view.nhs_number is None for view in views)
    assert without / len(views) == pytest.approx(1 / 3, abs=0.03)
    other_sources = [
        view for p in population.people for k, view in p.source_views.items() if k != "social_care"
    ]
    assert all(view.nhs_number for view in other_sources)


def test_some_social_care_records_spell_the_name_differently_or_have_another_phone(population):
    changed = Counter()
    for person in population.people_at("social_care"):
        view = person.source_views["social_care"]
        if view.nhs_number is not None:
            assert (view.given_names, view.family_name) == (person.given_names, person.family_name)
            continue
        changed["name"] += (view.given_names, view.family_name) != (
            person.given_names,
            person.family_name,
        )
        changed["phone"] += view.phone != person.phone
    assert changed["name"] >= 3 and changed["phone"] >= 3


def test_even_a_tiny_population_needs_demographic_matching_in_social_care():
    people = generate(seed=SEED, patients=5).people
    unmatched = [
        p
        for p in people
        if p.known_to("social_care") and p.source_views["social_care"].nhs_number is None
    ]
    assert unmatched
    view = unmatched[0].source_views["social_care"]
    assert (view.given_names, view.family_name) != (
        unmatched[0].given_names,
        unmatched[0].family_name,
    )


def test_postcodes_are_real_london_districts_in_valid_uk_format(population):
    for person in population.people:
        assert POSTCODE_PATTERN.match(person.postcode), person.postcode
        assert person.postcode.split()[0] in LONDON_OUTWARD_CODES
        assert person.city == "London"


def test_demographics_are_plausible(population):
    sexes = Counter(person.sex for person in population.people)
    assert set(sexes) <= {"male", "female", "other", "unknown"}
    assert sexes["male"] > 100 and sexes["female"] > 100
    for person in population.people:
        assert person.birth_date < REFERENCE_DATE
        assert person.prefix in {"Mr", "Mrs", "Ms", "Miss", "Dr"}
        assert person.phone.startswith(("07700 900", "020 7946 0"))
        if person.deceased_date:
            assert person.birth_date < person.deceased_date < REFERENCE_DATE
    deceased = sum(person.deceased_date is not None for person in population.people)
    assert 0 < deceased < 30


def test_every_category_is_covered_somewhere(population):
    types = {resource["resourceType"] for _, _, resource in all_resources(population)}
    for category, category_types in CATEGORY_RESOURCE_TYPES.items():
        assert types & set(category_types), category


def test_each_source_serves_only_what_such_an_organisation_holds(population):
    for key, _, resource in all_resources(population, population.people[:80]):
        assert resource["resourceType"] in SERVED_TYPES[key]
    assert "DocumentReference" not in SERVED_TYPES["gp"]
    assert "MedicationStatement" in SERVED_TYPES["gp"]
    assert "MedicationRequest" in SERVED_TYPES["acute"]


def test_clinical_content_is_the_same_every_time(population):
    again = generate(seed=SEED, patients=400)
    for person in population.people[:30]:
        for key in person.local_ids:
            assert resources_for(population, person, key) == resources_for(
                again, again.people[person.index], key
            )


def test_a_source_holds_nothing_about_a_person_it_does_not_know(population):
    stranger = next(p for p in population.people if not p.known_to("mental_health"))
    assert not any(resources_for(population, stranger, "mental_health").values())


def test_every_clinical_resource_references_its_own_patient(population):
    ids = set()
    for key, person, resource in all_resources(population, population.people[:120]):
        expected = {"reference": f"Patient/{person.local_ids[key]}"}
        if resource["resourceType"] == "Appointment":
            assert {"reference": expected["reference"]} in [
                p["actor"] for p in resource["participant"]
            ]
        elif resource["resourceType"] in ("AllergyIntolerance", "Immunization"):
            assert resource["patient"] == expected
        else:
            assert resource["subject"] == expected
        assert resource["meta"]["lastUpdated"].endswith("Z")
        assert (key, resource["id"]) not in ids
        ids.add((key, resource["id"]))


def test_dates_are_relative_to_the_reference_date_and_respect_death(population):
    reference = REFERENCE_DATE.isoformat()
    for _, person, resource in all_resources(population, population.people[:150]):
        if resource["resourceType"] == "Appointment":
            booked = resource["status"] == "booked"
            assert (resource["start"] > reference) == booked
            assert not (booked and person.deceased_date)
        elif resource["resourceType"] == "Encounter":
            assert resource["period"]["end"] < reference
            if person.deceased_date:
                assert resource["period"]["start"] < person.deceased_date.isoformat()


def test_nobody_allergic_to_penicillin_is_given_amoxicillin(population):
    for key, person, resource in all_resources(population):
        if key != "gp" or resource["resourceType"] != "AllergyIntolerance":
            continue
        if resource["code"]["text"] != "Penicillin":
            continue
        for other_key in person.local_ids:
            held = resources_for(population, person, other_key)
            medicines = held.get("MedicationStatement", []) + held.get("MedicationRequest", [])
            # Named as the record names them: some only through a Medication resource.
            apart = medications_for(population, person, other_key)
            names = [view_item(m, apart).title for m in medicines]
            assert not any(name.startswith("Amoxicillin") for name in names)


def test_every_resource_type_validates_as_fhir_r4(population):
    sample = population.people[:150]
    validated = Counter()
    for key, _, resource in all_resources(population, sample):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        validated[key, resource["resourceType"]] += 1
    for person in sample:
        for key in person.local_ids:
            patient = fhir.patient(
                person, population.source(key), last_updated=datetime(2026, 1, 1)
            )
            get_fhir_model_class("Patient").model_validate(patient)
    for key, types in SERVED_TYPES.items():
        for resource_type in types:
            assert validated[key, resource_type], f"{key} served no {resource_type} in the sample"


def test_a_patient_resource_shows_only_what_its_source_holds(population):
    person = next(
        p
        for p in population.people_at("social_care")
        if p.source_views["social_care"].nhs_number is None
    )
    at_gp = fhir.patient(person, population.source("gp"), last_updated=datetime(2026, 1, 1))
    at_council = fhir.patient(
        person, population.source("social_care"), last_updated=datetime(2026, 1, 1)
    )
    assert at_gp["id"] == person.local_ids["gp"]
    assert {"system": fhir.NHS_NUMBER_SYSTEM, "value": person.nhs_number}.items() <= at_gp[
        "identifier"
    ][0].items()
    assert at_gp["generalPractitioner"][0]["display"] == person.gp_practice.name
    assert [i["system"] for i in at_council["identifier"]] == [fhir.LOCAL_ID_SYSTEMS["social_care"]]
    assert "generalPractitioner" not in at_council
