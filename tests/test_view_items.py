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


# Shapes of the published UK Core R4 examples (UKCore-AllergyIntolerance-EnteredInError-Example,
# UKCore-MedicationRequest-Example, UKCore-Observation-VitalSigns-BloodPressure-Example) and of
# GP2GP-migrated records, as the record must read them.
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def coded(system, code, display, text=None):
    return {"coding": [{"system": system, "code": code, "display": display}],
            **({"text": text} if text else {})}  # fmt: skip


def test_an_entered_in_error_allergy_is_retracted_and_says_so():
    resource = {
        "resourceType": "AllergyIntolerance",
        "id": "UKCore-AllergyIntolerance-EnteredInError-Example",
        "clinicalStatus": coded(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
            "inactive", "Inactive",
        ),
        "verificationStatus": coded(ALLERGY_VERIFICATION, "entered-in-error", "Entered in Error"),
        "type": "allergy", "category": ["medication"],
        "code": coded(SNOMED, "372687004", "Amoxicillin"),
        "patient": {"reference": "Patient/UKCore-Patient-RichardSmith-Example"},
        "recordedDate": "2019-12-10T13:00:00+00:00",
    }  # fmt: skip
    validate_resource(resource)
    item = view_item(resource)
    assert (item.retracted, item.status) == ("Entered in error", "Entered in error")
    assert item.title == "Amoxicillin"


@pytest.mark.parametrize(
    ("resource", "retracted"),
    [
        ({"resourceType": "Condition", "code": {"text": "Asthma"},
          "clinicalStatus": coded("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                  "active", "Active"),
          "verificationStatus": coded(
              "http://terminology.hl7.org/CodeSystem/condition-ver-status", "refuted", "Refuted")},
         "Refuted"),
        ({"resourceType": "MedicationRequest", "status": "entered-in-error", "intent": "order",
          "medicationCodeableConcept": {"text": "Aspirin 75mg"}}, "Entered in error"),
        ({"resourceType": "Observation", "status": "entered-in-error", "code": {"text": "HbA1c"}},
         "Entered in error"),
        ({"resourceType": "Immunization", "status": "entered-in-error",
          "vaccineCode": {"text": "Flu"}}, "Entered in error"),
        ({"resourceType": "Encounter", "status": "entered-in-error",
          "class": {"code": "EMER", "display": "emergency"}}, "Entered in error"),
        ({"resourceType": "Condition", "code": {"text": "Asthma"},
          "verificationStatus": coded(
              "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed",
              "Confirmed")}, ""),
    ],
)  # fmt: skip
def test_refuted_and_entered_in_error_items_of_every_type_are_retracted(resource, retracted):
    item = view_item(resource)
    assert item.retracted == retracted
    if retracted:
        assert item.status == retracted


def test_an_unconfirmed_allergy_says_it_is_unconfirmed():
    item = view_item({
        "resourceType": "AllergyIntolerance", "code": {"text": "Latex"},
        "clinicalStatus": coded("x", "active", "Active"),
        "verificationStatus": coded(ALLERGY_VERIFICATION, "unconfirmed", "Unconfirmed"),
    })  # fmt: skip
    assert (item.status, item.retracted) == ("Active (unconfirmed)", "")


@pytest.mark.parametrize(
    ("code", "words"),
    [("noshow", "Did not attend"), ("finished", "Finished"), ("in-progress", "In progress"),
     ("fulfilled", "Attended"), ("completed", "Completed"), ("stopped", "Stopped"),
     ("entered-in-error", "Entered in error"), ("on-hold", "On hold"),
     ("something-new", "Something new")],
)  # fmt: skip
def test_statuses_read_in_plain_english(code, words):
    item = view_item({"resourceType": "Appointment", "status": code, "description": "Clinic"})
    assert (item.status, item.status_code) == (words, code)


def medication_request(**fields):
    return {"resourceType": "MedicationRequest", "id": "m1", "status": "active",
            "intent": "order", "subject": {"reference": "Patient/P1"}, **fields}  # fmt: skip


AMLODIPINE = coded("https://dmd.nhs.uk", "319283006", "Amlodipine 5mg tablets")


def test_a_medicine_is_named_from_its_contained_medication():
    resource = medication_request(
        contained=[{"resourceType": "Medication", "id": "med1", "code": AMLODIPINE}],
        medicationReference={"reference": "#med1"},
    )
    validate_resource(resource)
    item = view_item(resource)
    assert item.title == "Amlodipine 5mg tablets"
    assert (item.code_system, item.code) == ("https://dmd.nhs.uk", "319283006")


def test_a_medicine_is_named_from_a_medication_sent_in_the_same_bundle():
    resource = medication_request(
        medicationReference={"reference": "Medication/UKCore-Medication-Example"}
    )
    medications = {
        "Medication/UKCore-Medication-Example": {
            "resourceType": "Medication",
            "id": "UKCore-Medication-Example",
            "code": AMLODIPINE,
        }
    }
    item = view_item(resource, medications)  # fmt: skip
    assert item.title == "Amlodipine 5mg tablets"
    assert item.code == "319283006"


def test_a_medicine_is_named_from_its_reference_display_or_said_to_be_unnamed():
    named = view_item(
        medication_request(
            medicationReference={"reference": "Medication/x", "display": "Timolol eye drops"}
        )
    )
    assert named.title == "Timolol eye drops"
    unnamed = view_item(medication_request(medicationReference={"reference": "Medication/x"}))
    assert unnamed.title == "Medicine not named by the source"
    assert "MedicationRequest" not in unnamed.title


def observation(**fields):
    return {"resourceType": "Observation", "id": "o1", "status": "final",
            "code": {"text": "Test"}, "subject": {"reference": "Patient/P1"}, **fields}  # fmt: skip


def test_blood_pressure_in_mm_hg_reads_as_people_write_it():
    mercury = {"unit": "millimeter of mercury", "system": UCUM, "code": "mm[Hg]"}
    resource = observation(
        code=coded(SNOMED, "75367002", "Blood pressure"),
        effectiveDateTime="2023-08-10",
        component=[
            {"code": coded("http://loinc.org", "8480-6", "Systolic blood pressure"),
             "valueQuantity": {"value": 142, **mercury}},
            {"code": coded("http://loinc.org", "8462-4", "Diastolic blood pressure"),
             "valueQuantity": {"value": 94, **mercury}},
        ],
    )  # fmt: skip
    validate_resource(resource)
    assert view_item(resource).value == "142/94 mmHg"


def test_components_in_different_units_each_keep_their_own():
    resource = observation(component=[
        {"code": {"text": "Heart rate"},
         "valueQuantity": {"value": 72, "unit": "beats/minute", "system": UCUM, "code": "/min"}},
        {"code": {"text": "Oxygen saturation"},
         "valueQuantity": {"value": 97, "unit": "percent", "system": UCUM, "code": "%"}},
        {"code": {"text": "Rhythm"}, "dataAbsentReason": {"text": "Not performed"}},
    ])  # fmt: skip
    assert view_item(resource).value == (
        "Heart rate: 72/min; Oxygen saturation: 97%; Rhythm: Not recorded: not performed"
    )


@pytest.mark.parametrize(
    ("fields", "value"),
    [
        ({"valueQuantity": {"value": 7.2, "unit": "x10^9/L", "system": UCUM, "code": "10*9/L"}},
         "7.2 10^9/L"),
        ({"valueQuantity": {"value": 36.8, "unit": "degree Celsius", "system": UCUM,
                            "code": "Cel"}}, "36.8°C"),
        ({"valueQuantity": {"value": 88, "unit": "micromole per liter", "system": UCUM,
                            "code": "umol/L"}}, "88 µmol/L"),
        ({"valueQuantity": {"value": 27.4, "system": UCUM, "code": "kg/m2"}}, "27.4 kg/m²"),
        ({"valueQuantity": {"value": 5, "comparator": "<", "unit": "mg/L", "code": "mg/L"}},
         "<5 mg/L"),
        ({"valueQuantity": {"value": 12, "unit": "widgets", "code": "{widget}"}}, "12 widgets"),
        ({"valueQuantity": {"value": 0.00001, "code": "g"}}, "0.00001 g"),
        ({"valueCodeableConcept": coded(SNOMED, "260385009", "Negative")}, "Negative"),
        ({"valueString": "Clear, straw coloured"}, "Clear, straw coloured"),
        ({"valueBoolean": False}, "No"),
        ({"valueInteger": 3}, "3"),
        ({"valueRange": {"low": {"value": 4, "unit": "mmol/L"},
                         "high": {"value": 6, "unit": "mmol/L"}}}, "4 to 6 mmol/L"),
        ({"valueRatio": {"numerator": {"value": 1}, "denominator": {"value": 128}}}, "1/128"),
        ({"valueSampledData": {"origin": {"value": 0}, "period": 10, "dimensions": 1,
                               "data": "1 2 3 4"}},
         "A series of 4 readings, one every 10 ms (see the source for the trace)"),
        ({"valueTime": "14:40:00"}, "14:40"),
        ({"valueDateTime": "2026-01-15T14:40:00Z"}, "15 January 2026, 14:40"),
        ({"valuePeriod": {"start": "2026-01-15", "end": "2026-01-20"}},
         "15 January 2026 to 20 January 2026"),
        ({"dataAbsentReason": coded(
            "http://terminology.hl7.org/CodeSystem/data-absent-reason", "error", "Error",
            "Specimen unsatisfactory")}, "Not recorded: specimen unsatisfactory"),
    ],
)  # fmt: skip
def test_every_kind_of_value_is_shown(fields, value):
    resource = observation(effectiveDateTime="2026-01-15", **fields)
    validate_resource(resource)
    assert view_item(resource).value == value


@pytest.mark.parametrize(
    ("fields", "date"),
    [
        ({"effectiveInstant": "2026-01-15T14:40:00Z"}, "2026-01-15T14:40:00Z"),
        ({"effectivePeriod": {"start": "2026-01-15T09:00:00Z"}}, "2026-01-15T09:00:00Z"),
        ({"effectiveTiming": {"event": ["2026-01-15T08:00:00Z"]}}, "2026-01-15T08:00:00Z"),
        ({"effectiveTiming": {"repeat": {"boundsPeriod": {"start": "2026-01-01"}}}},
         "2026-01-01"),
        ({"effectiveDateTime": "2026-01-15"}, "2026-01-15"),
    ],
)  # fmt: skip
def test_every_kind_of_effective_time_gives_the_item_its_date(fields, date):
    resource = observation(valueString="x", **fields)
    validate_resource(resource)
    assert view_item(resource).date == date


def test_a_gp2gp_degraded_allergy_is_named_by_its_text_and_says_it_was_degraded():
    item = view_item({
        "resourceType": "AllergyIntolerance",
        "code": coded(SNOMED, "196461000000101", "Transfer-degraded drug allergy (record artifact)",
                      "9339101000001105 | Septrin"),
    })  # fmt: skip
    assert item.title == "9339101000001105 | Septrin"
    assert "Moved between GP systems without its code" in item.detail


def test_an_encounter_says_when_it_ended_in_words():
    item = view_item(
        {
            "resourceType": "Encounter",
            "status": "finished",
            "class": {"code": "EMER", "display": "emergency"},
            "period": {"start": "2026-07-03T22:10:00Z", "end": "2026-07-04T02:05:00Z"},
        }
    )
    assert item.detail == "ended 4 July 2026, 03:05"  # British Summer Time
