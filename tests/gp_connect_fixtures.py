"""Our own GP Connect structured record, in the shapes of the published Access Record Structured
examples (NHSDigital/gpconnect, the STU3 structured record Bundle): the Patient and its practice,
a List per clinical area, an allergy and a resolved one (the "Ended allergies" List), a medicine
as Medication, MedicationStatement and its authorisation (MedicationRequest, intent plan), a
problem (Condition, ProblemHeader), an immunisation not given, a consultation, an investigation
with its result, and a referral (ReferralRequest). Small, and written here, not copied.
"""

import copy
from typing import Any

NHS_NUMBER = "9690937286"
OTHER_NHS_NUMBER = "9690937294"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
CATEGORY_SYSTEM = "https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-ConditionCategory-1"
PATIENT_ID = "2"
SUBJECT = {"reference": f"Patient/{PATIENT_ID}"}


def _list(code: str, title: str, items: list[str]) -> dict[str, Any]:
    return {
        "resourceType": "List",
        "id": f"list-{code}",
        "status": "current",
        "mode": "snapshot",
        "title": title,
        "code": {"coding": [{"system": SNOMED, "code": code, "display": title}]},
        "subject": SUBJECT,
        "entry": [{"item": {"reference": item}} for item in items],
    }


def _concept(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": SNOMED, "code": code, "display": display}]}


RESOURCES: list[dict[str, Any]] = [
    {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "meta": {
            "profile": ["https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-Patient-1"]
        },
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": NHS_NUMBER}],
        "name": [{"use": "official", "family": "Jackson", "given": ["Jane"]}],
        "gender": "female",
        "birthDate": "1952-05-31",
        "managingOrganization": {"reference": "Organization/7"},
    },
    {
        "resourceType": "Organization",
        "id": "7",
        "identifier": [
            {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": "A20047"}
        ],
        "name": "Dr Legg's Surgery",
    },
    _list("886921000000105", "Allergies and adverse reactions", ["AllergyIntolerance/1"]),
    {
        "resourceType": "AllergyIntolerance",
        "id": "1",
        "clinicalStatus": "active",
        "verificationStatus": "unconfirmed",
        "category": ["medication"],
        "code": _concept("294505008", "Amoxicillin allergy"),
        "patient": SUBJECT,
        "assertedDate": "2016-06-09T10:20:00+01:00",
        "reaction": [{"manifestation": [_concept("247472004", "Weal")], "severity": "mild"}],
    },
    _list("1103671000000101", "Ended allergies", ["AllergyIntolerance/2"]),
    {
        "resourceType": "AllergyIntolerance",
        "id": "2",
        "clinicalStatus": "resolved",
        "verificationStatus": "confirmed",
        "code": _concept("91930004", "Allergy to eggs"),
        "patient": SUBJECT,
        "assertedDate": "2009-03-02",
    },
    _list("933361000000108", "Medications and medical devices", ["MedicationStatement/3"]),
    {
        "resourceType": "Medication",
        "id": "med-3",
        "code": {
            "coding": [
                {"system": SNOMED, "code": "322236009", "display": "Paracetamol 500mg tablets"}
            ]
        },
    },
    {
        "resourceType": "MedicationRequest",
        "id": "auth-3",
        "status": "active",
        "intent": "plan",
        "medicationReference": {"reference": "Medication/med-3"},
        "subject": SUBJECT,
        "authoredOn": "2018-01-05",
    },
    {
        # One issue of that authorisation (includePrescriptionIssues): the same medicine.
        "resourceType": "MedicationRequest",
        "id": "issue-3-1",
        "status": "completed",
        "intent": "order",
        "basedOn": [{"reference": "MedicationRequest/auth-3"}],
        "medicationReference": {"reference": "Medication/med-3"},
        "subject": SUBJECT,
        "authoredOn": "2018-02-05",
    },
    {
        "resourceType": "MedicationStatement",
        "id": "3",
        "basedOn": [{"reference": "MedicationRequest/auth-3"}],
        "status": "active",
        "medicationReference": {"reference": "Medication/med-3"},
        "effectivePeriod": {"start": "2018-01-05"},
        "dateAsserted": "2018-01-05",
        "subject": SUBJECT,
        "taken": "unk",
        "dosage": [{"text": "Two tablets four times a day"}],
    },
    _list("717711000000103", "Problems", ["Condition/4"]),
    {
        "resourceType": "Condition",
        "id": "4",
        "meta": {
            "profile": [
                "https://fhir.nhs.uk/STU3/StructureDefinition/CareConnect-GPC-ProblemHeader-Condition-1"
            ]
        },
        "clinicalStatus": "active",
        "category": [
            {
                "coding": [
                    {
                        "system": "https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-ConditionCategory-1",
                        "code": "problem-list-item",
                    }
                ]
            }
        ],
        "code": _concept("195967001", "Asthma"),
        "subject": SUBJECT,
        "onsetDateTime": "2005-10-10",
        "assertedDate": "2005-10-10",
    },
    _list("1102181000000102", "Immunisations", ["Immunization/5"]),
    {
        "resourceType": "Immunization",
        "id": "5",
        "status": "completed",
        "notGiven": True,
        "vaccineCode": _concept("836380007", "Influenza vaccine"),
        "patient": SUBJECT,
        "date": "2019-10-01",
        "primarySource": True,
    },
    _list("1149501000000101", "List of consultations", ["Encounter/6"]),
    {
        "resourceType": "Encounter",
        "id": "6",
        "status": "finished",
        "type": [_concept("185317003", "Telephone encounter")],
        "subject": SUBJECT,
        "period": {"start": "2020-02-01T10:00:00+00:00", "end": "2020-02-01T10:10:00+00:00"},
    },
    _list("887191000000108", "Investigations and results", ["DiagnosticReport/8"]),
    {
        "resourceType": "DiagnosticReport",
        "id": "8",
        "status": "final",
        "code": _concept("721981007", "Diagnostic studies report"),
        "subject": SUBJECT,
        "issued": "2020-02-03T09:00:00+00:00",
        "result": [{"reference": "Observation/9"}],
    },
    {
        "resourceType": "Observation",
        "id": "9",
        "status": "final",
        "code": _concept("1022431000000105", "Haemoglobin estimation"),
        "subject": SUBJECT,
        "effectiveDateTime": "2020-02-02",
        "valueQuantity": {
            "value": 131,
            "unit": "g/L",
            "system": "http://unitsofmeasure.org",
            "code": "g/L",
        },
    },
    _list("792931000000107", "Outbound referral", ["ReferralRequest/10"]),
    {
        "resourceType": "ReferralRequest",
        "id": "10",
        "status": "active",
        "intent": "order",
        "subject": SUBJECT,
        "authoredOn": "2020-03-01",
        "serviceRequested": [_concept("183516009", "Referral to dermatology service")],
        "recipient": [{"display": "Thameside Dermatology"}],
    },
]


def structured_record(resources: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The fixture Bundle (a deep copy: tests change it freely)."""
    return {
        "resourceType": "Bundle",
        "meta": {
            "profile": [
                "https://fhir.nhs.uk/STU3/StructureDefinition/GPConnect-StructuredRecord-Bundle-1"
            ]
        },
        "type": "collection",
        "entry": [{"resource": r} for r in copy.deepcopy(resources or RESOURCES)],
    }
