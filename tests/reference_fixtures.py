"""Resources of our own in the shapes of the published UK Core R4 examples (NHS England's
FHIR-R4-UKCORE examples, GP Connect, NRL pointers): profiles and extensions, SNOMED and UCUM,
contained resources; each with its patient named in one of the forms real sources use, and what
the record must do with it: show it, withhold it with a reason, or refuse the heading from that
source because it names someone else.

The patient is "Richard Smith", known to the source as UKCore-Patient-RichardSmith-Example
(NHS number 9990000018); the other person is Mary Jones (9990000026). Everything is synthetic.
"""

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LOCAL_ID = "UKCore-Patient-RichardSmith-Example"
NHS_NUMBER = "9990000018"
OTHER_ID = "UKCore-Patient-MaryJones-Example"
OTHER_NHS_NUMBER = "9990000026"
ALIAS = "https://fhir.thameside.example/R4"  # the same server behind another name
NHS = "https://fhir.nhs.uk/Id/nhs-number"
SNOMED = "http://snomed.info/sct"
UK_CORE = "https://fhir.hl7.org.uk/StructureDefinition/"
SHOWN, WITHHELD, REFUSED = "shown", "withheld", "refused"


def coding(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _clinical(code: str) -> dict[str, Any]:
    return coding(
        "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", code, code.title()
    )


# One resource of each type the record reads, in UK Core's shapes; the patient field is set
# by each fixture. (Ids are the examples' own style.)
BASES: dict[str, dict[str, Any]] = {
    "AllergyIntolerance": {
        "resourceType": "AllergyIntolerance",
        "id": "UKCore-AllergyIntolerance-Amoxicillin-Example",
        "meta": {"profile": [f"{UK_CORE}UKCore-AllergyIntolerance"]},
        "clinicalStatus": _clinical("active"),
        "verificationStatus": coding(
            "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
            "confirmed", "Confirmed",
        ),
        "type": "allergy",
        "category": ["medication"],
        "code": coding(SNOMED, "372687004", "Amoxicillin"),
        "encounter": {"reference": "Encounter/UKCore-Encounter-InpatientEncounter-Example"},
        "recordedDate": "2019-12-10T13:00:00+00:00",
        "recorder": {"reference": "Practitioner/UKCore-Practitioner-ConsultantSandraGose-Example"},
        "reaction": [
            {"manifestation": [coding(SNOMED, "247472004", "Urticarial rash")], "severity": "mild"}
        ],
    },
    "Condition": {
        "resourceType": "Condition",
        "id": "UKCore-Condition-Diabetes-Example",
        "meta": {"profile": [f"{UK_CORE}UKCore-Condition"]},
        "extension": [
            {"url": f"{UK_CORE}Extension-UKCore-ConditionEpisode",
             "valueCodeableConcept": coding(SNOMED, "255217005", "First episode")}
        ],
        "clinicalStatus": coding(
            "http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"
        ),
        "category": [coding(
            "http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item",
            "Problem List Item",
        )],
        "code": coding(SNOMED, "44054006", "Diabetes mellitus type 2"),
        "onsetDateTime": "2018-03-14",
    },
    "Observation": {
        "resourceType": "Observation",
        "id": "UKCore-Observation-Vital-BloodPressure-Example",
        "meta": {"profile": [f"{UK_CORE}UKCore-Observation-Group-Lab"]},
        "status": "final",
        "category": [coding(
            "http://terminology.hl7.org/CodeSystem/observation-category", "vital-signs",
            "Vital Signs",
        )],
        "code": coding(SNOMED, "75367002", "Blood pressure"),
        "effectiveDateTime": "2026-01-15T14:40:00Z",
        "component": [
            {"code": coding(SNOMED, "72313002", "Systolic arterial pressure"),
             "valueQuantity": {"value": 142, "unit": "mmHg", "system": "http://unitsofmeasure.org",
                               "code": "mm[Hg]"}},
            {"code": coding(SNOMED, "1091811000000102", "Diastolic arterial pressure"),
             "valueQuantity": {"value": 94, "unit": "mmHg", "system": "http://unitsofmeasure.org",
                               "code": "mm[Hg]"}},
        ],
    },
    "DiagnosticReport": {
        "resourceType": "DiagnosticReport",
        "id": "UKCore-DiagnosticReport-Lab-Example",
        "meta": {"profile": [f"{UK_CORE}UKCore-DiagnosticReport"]},
        "status": "final",
        "category": [coding(
            "http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory"
        )],
        "code": coding(SNOMED, "26604007", "Full blood count"),
        "issued": "2026-01-15T16:02:00Z",
        "result": [{"reference": "Observation/UKCore-Observation-Lab-Haemoglobin-Example"}],
    },
    "MedicationRequest": {
        "resourceType": "MedicationRequest",
        "id": "UKCore-MedicationRequest-Amoxicillin-Example",
        "meta": {"profile": [f"{UK_CORE}UKCore-MedicationRequest"]},
        "contained": [
            {"resourceType": "Medication", "id": "med1",
             "code": coding(SNOMED, "323509004", "Amoxicillin 500mg capsules")}
        ],
        "extension": [
            {"url": f"{UK_CORE}Extension-UKCore-MedicationRepeatInformation",
             "extension": [{"url": "numberOfPrescriptionsIssued", "valueUnsignedInt": 2}]}
        ],
        "status": "active",
        "intent": "order",
        "medicationReference": {"reference": "#med1"},
        "authoredOn": "2026-01-10",
    },
    "Immunization": {
        "resourceType": "Immunization",
        "id": "UKCore-Immunization-Influenza-Example",
        "meta": {"profile": [f"{UK_CORE}UKCore-Immunization"]},
        "extension": [
            {"url": f"{UK_CORE}Extension-UKCore-VaccinationProcedure",
             "valueCodeableConcept": coding(
                 SNOMED, "884861000000100", "Administration of first dose of influenza vaccine"
             )}
        ],
        "status": "completed",
        "vaccineCode": coding(SNOMED, "39114911000001105", "Fluenz Tetra nasal suspension"),
        "occurrenceDateTime": "2025-10-01T10:00:00+00:00",
    },
    "Encounter": {
        "resourceType": "Encounter",
        "id": "UKCore-Encounter-EmergencyDepartment-Example",
        "meta": {"profile": [f"{UK_CORE}UKCore-Encounter"]},
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER",
                  "display": "emergency"},
        "type": [coding(SNOMED, "4525004", "Emergency department patient visit")],
        "period": {"start": "2026-01-15T14:00:00Z", "end": "2026-01-15T19:30:00Z"},
    },
    "DocumentReference": {
        "resourceType": "DocumentReference",
        "id": "NRL-DocumentReference-MentalHealthCrisisPlan-Example",
        "status": "current",
        "type": coding(SNOMED, "736253002", "Mental health crisis plan"),
        "custodian": {"identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code",
                                     "value": "RAT"}},
        "date": "2026-01-02T09:00:00Z",
        "content": [{"attachment": {"contentType": "application/pdf",
                                    "url": "https://provider.example/documents/crisis-plan.pdf"}}],
    },
    "Appointment": {
        "resourceType": "Appointment",
        "id": "UKCore-Appointment-Outpatient-Example",
        "status": "booked",
        "serviceType": [coding(SNOMED, "394579002", "Cardiology")],
        "start": "2026-03-02T10:00:00Z",
        "end": "2026-03-02T10:30:00Z",
    },
}  # fmt: skip


def patient_resource(local_id: str = LOCAL_ID, nhs_number: str | None = NHS_NUMBER) -> dict:
    """A UK Core Patient, as sent in a Bundle or contained."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": local_id,
        "name": [{"use": "official", "family": "Smith", "given": ["Richard"]}],
    }
    if nhs_number:
        resource["identifier"] = [{"system": NHS, "value": nhs_number}]
    return resource


def with_patient(resource: dict[str, Any], reference: dict[str, Any] | None) -> dict[str, Any]:
    """The resource naming its patient by `reference` (None: not at all), where its type does."""
    named = copy.deepcopy(resource)
    if reference is None:
        return named
    if named["resourceType"] == "Appointment":
        named["participant"] = [
            {"actor": reference, "status": "accepted"},
            {"actor": {"reference": "Practitioner/UKCore-Practitioner-ConsultantSandraGose-Example",
                       "display": "Dr Sandra Gose"}, "status": "accepted"},
        ]  # fmt: skip
    elif named["resourceType"] in ("AllergyIntolerance", "Immunization"):
        named["patient"] = reference
    else:
        named["subject"] = reference
    return named


@dataclass(frozen=True)
class Form:
    """One way of naming the patient: the reference, the entries or contained resources it
    needs beside it, and what the record must do with a resource that uses it."""

    name: str
    expected: str
    reference: Callable[[str], dict[str, Any] | None]  # from the source's base URL
    contained: tuple[dict[str, Any], ...] = ()
    bundle: Callable[[str], list[dict[str, Any]]] = field(default=lambda base: [])
    invalid: bool = False
    reason: str = ""  # the words a withheld one's reason must hold


URN = "urn:uuid:5cab8d21-1a23-4b6b-93d3-1f6b1e33c4a7"

FORMS: tuple[Form, ...] = (
    Form("relative", SHOWN, lambda base: {"reference": f"Patient/{LOCAL_ID}"}),
    Form("versioned", SHOWN, lambda base: {"reference": f"Patient/{LOCAL_ID}/_history/3"}),
    Form("absolute on the base", SHOWN, lambda base: {"reference": f"{base}/Patient/{LOCAL_ID}"}),
    Form("absolute on the base, versioned", SHOWN,
         lambda base: {"reference": f"{base}/Patient/{LOCAL_ID}/_history/1"}),
    Form("absolute on an alias", SHOWN, lambda base: {"reference": f"{ALIAS}/Patient/{LOCAL_ID}"}),
    Form("by NHS number", SHOWN,
         lambda base: {"identifier": {"system": NHS, "value": NHS_NUMBER},
                       "display": "Richard Smith"}),
    Form("by NHS number, spaced", SHOWN,
         lambda base: {"identifier": {"system": NHS, "value": "999 000 0018"}}),
    Form("reference and NHS number", SHOWN,
         lambda base: {"reference": f"Patient/{LOCAL_ID}", "type": "Patient",
                       "identifier": {"system": NHS, "value": NHS_NUMBER}}),
    Form("urn:uuid Patient in the Bundle", SHOWN, lambda base: {"reference": URN},
         bundle=lambda base: [{"fullUrl": URN, "resource": patient_resource(),
                               "search": {"mode": "include"}}]),
    Form("urn:uuid Patient by NHS number", SHOWN, lambda base: {"reference": URN},
         bundle=lambda base: [{"fullUrl": URN, "resource": {
             "resourceType": "Patient", "identifier": [{"system": NHS, "value": NHS_NUMBER}]}}]),
    Form("contained Patient by NHS number", SHOWN, lambda base: {"reference": "#pat"},
         contained=({**patient_resource(), "id": "pat"},)),
    Form("display only", WITHHELD, lambda base: {"display": "Richard Smith"},
         reason="with no patient we can recognise"),
    Form("on another server", WITHHELD,
         lambda base: {"reference": f"https://elsewhere.example/fhir/Patient/{LOCAL_ID}"},
         reason="with no patient we can recognise"),
    Form("a local number of another system", WITHHELD,
         lambda base: {"identifier": {"system": "https://thameside.example/Id/mrn",
                                      "value": "RS-123"}},
         reason="with no patient we can recognise"),
    Form("urn:uuid not in the Bundle", WITHHELD, lambda base: {"reference": URN},
         reason="with no patient we can recognise"),
    Form("contained Patient without an NHS number", WITHHELD, lambda base: {"reference": "#pat"},
         contained=({**patient_resource(nhs_number=None), "id": "pat"},),
         reason="with no patient we can recognise"),
    Form("a Group, not a patient", WITHHELD, lambda base: {"reference": "Group/ward-7"},
         reason="with no patient we can recognise"),
    # (For types whose patient is required, R4 validation says so first: any reason will do.)
    Form("no patient at all", WITHHELD, lambda base: None),
    Form("invalid, about this patient", WITHHELD,
         lambda base: {"reference": f"Patient/{LOCAL_ID}"}, invalid=True, reason="invalid ("),
    Form("another id on the base", REFUSED, lambda base: {"reference": f"Patient/{OTHER_ID}"}),
    Form("another id on an alias", REFUSED,
         lambda base: {"reference": f"{ALIAS}/Patient/{OTHER_ID}/_history/2"}),
    Form("another NHS number", REFUSED,
         lambda base: {"identifier": {"system": NHS, "value": OTHER_NHS_NUMBER}}),
    Form("our id with another NHS number", REFUSED,
         lambda base: {"reference": f"Patient/{LOCAL_ID}",
                       "identifier": {"system": NHS, "value": OTHER_NHS_NUMBER}}),
    Form("urn:uuid Patient of someone else", REFUSED, lambda base: {"reference": URN},
         bundle=lambda base: [{"fullUrl": URN,
                               "resource": patient_resource(OTHER_ID, OTHER_NHS_NUMBER)}]),
    Form("contained Patient of someone else", REFUSED, lambda base: {"reference": "#pat"},
         contained=({**patient_resource(OTHER_ID, OTHER_NHS_NUMBER), "id": "pat"},)),
    Form("invalid, about someone else", REFUSED,
         lambda base: {"reference": f"Patient/{OTHER_ID}"}, invalid=True),
)  # fmt: skip


def resource_for(resource_type: str, form: Form, base_url: str, *, n: int = 0) -> dict[str, Any]:
    """The base resource of that type naming its patient in that form (the n-th: its own id)."""
    resource = with_patient(BASES[resource_type], form.reference(base_url))
    if n:
        resource["id"] = f"{resource['id']}-{n}"
    if form.contained:
        resource["contained"] = [*resource.get("contained", []), *form.contained]
    if form.invalid:
        resource["meta"] = {**resource.get("meta", {}), "lastUpdated": "the fifteenth of January"}
    return resource


def entries_for(resource_type: str, form: Form, base_url: str) -> list[dict[str, Any]]:
    """A search answer holding one resource in that form, and whatever it refers to."""
    resource = resource_for(resource_type, form, base_url)
    return [{"fullUrl": f"{base_url}/{resource_type}/{resource['id']}", "resource": resource},
            *form.bundle(base_url)]  # fmt: skip
