"""Mapping FHIR resources to the plain lines a professional reads, and the wrong-patient check."""

import pytest

from demo.clinical import SERVED_TYPES, resources_for
from records.sources.errors import MalformedResponse
from records.sources.fhir_adapter import validate_resource
from records.sources.view_items import view_item


def every_served_resource(population):
    person = population.people[0]  # known to all five sources, with a rich record
    for source in SERVED_TYPES:
        for resources in resources_for(population, person, source).values():
            yield from resources


def test_every_demo_resource_maps_to_a_titled_dated_item(population):
    seen_types = set()
    for resource in every_served_resource(population):
        item = view_item(resource)
        seen_types.add(item.resource_type)
        assert item.title, resource
        assert item.date, resource
        assert item.resource_id == resource["id"]
    assert seen_types == {t for types in SERVED_TYPES.values() for t in types}


def test_allergy_shows_substance_reaction_severity_and_criticality():
    item = view_item(
        {
            "resourceType": "AllergyIntolerance",
            "id": "a1",
            "criticality": "high",
            "clinicalStatus": {"coding": [{"code": "active", "display": "Active"}]},
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "91936005",
                                 "display": "Allergy to penicillin"}]},
            "reaction": [{"manifestation": [{"coding": [{"display": "Anaphylaxis"}]}],
                          "severity": "severe"}],
            "recordedDate": "2020-01-02",
        }
    )  # fmt: skip
    assert item.title == "Allergy to penicillin"
    assert item.detail == "Anaphylaxis (severe)"
    assert item.criticality == "high"
    assert item.status == "Active"
    assert (item.code_system, item.code) == ("http://snomed.info/sct", "91936005")


def test_blood_pressure_components_read_as_one_value():
    item = view_item(
        {
            "resourceType": "Observation",
            "id": "bp",
            "status": "final",
            "code": {"text": "Blood pressure"},
            "effectiveDateTime": "2026-10-01T09:00:00Z",
            "component": [
                {"code": {"text": "Systolic"}, "valueQuantity": {"value": 142, "unit": "mmHg"}},
                {"code": {"text": "Diastolic"}, "valueQuantity": {"value": 88, "unit": "mmHg"}},
            ],
        }
    )
    assert item.value == "142/88 mmHg"


def test_a_code_without_a_display_is_shown_as_the_code_not_dropped():
    item = view_item(
        {
            "resourceType": "Condition",
            "id": "c1",
            "code": {"coding": [{"system": "http://local.example/codes", "code": "XYZ-9"}]},
        }
    )
    assert item.title == "XYZ-9"
    assert item.code_system == "http://local.example/codes"


def test_an_unknown_resource_type_is_kept_as_it_is():
    resource = {
        "resourceType": "SocialCareThing",
        "id": "s1",
        "subject": {"reference": "Patient/L1"},
        "description": "Meals on wheels",
    }
    validate_resource(resource)  # unknown to fhir.resources: kept, not refused
    item = view_item(resource)
    assert (item.resource_type, item.title) == ("SocialCareThing", "Meals on wheels")


def test_invalid_data_types_are_refused():
    with pytest.raises(MalformedResponse, match="invalid FHIR"):
        validate_resource({"resourceType": "Condition", "id": "c", "clinicalStatus": "active",
                           "subject": {"reference": "Patient/L1"}})  # fmt: skip


def test_every_category_has_its_resource_types():
    from records.categories import ALL_CATEGORIES
    from records.sources.resource_types import CATEGORY_RESOURCE_TYPES

    assert set(CATEGORY_RESOURCE_TYPES) == set(ALL_CATEGORIES)
    assert all(CATEGORY_RESOURCE_TYPES[category] for category in ALL_CATEGORIES)


def test_validation_errors_name_fields_but_never_echo_values():
    secret = "Patient disclosed a confidential diagnosis"
    with pytest.raises(MalformedResponse) as caught:
        validate_resource({"resourceType": "Condition", "id": "c", "clinicalStatus": secret})
    assert "clinicalStatus" in caught.value.detail
    assert secret not in caught.value.detail
