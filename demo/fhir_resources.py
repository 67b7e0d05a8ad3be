"""Builders of FHIR R4 JSON (plain dicts) for the simulated source systems.

Every builder returns a resource that fhir.resources.R4B validates; None-valued fields are dropped.
"""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta
from typing import Any

from demo.population import Person, SourceSpec
from records.confidentiality import Confidentiality, security_label
from records.identifiers import NHS_NUMBER_SYSTEM, ODS_SYSTEM

Resource = dict[str, Any]

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
DMD = "https://dmd.nhs.uk"
UCUM = "http://unitsofmeasure.org"
_TERMINOLOGY = "http://terminology.hl7.org/CodeSystem"

_SOURCE_DOMAINS = {
    "gp": "gp.london",
    "acute": "thameside",
    "community": "riverside-community",
    "mental_health": "souththames",
    "social_care": "riverside-council",
}
# Each organisation identifies its patients and its own codes under systems of its own.
LOCAL_ID_SYSTEMS: dict[str, str] = {
    key: f"https://fhir.{domain}.example/Id/local" for key, domain in _SOURCE_DOMAINS.items()
}
LOCAL_CODE_SYSTEMS: dict[str, str] = {
    key: f"https://fhir.{domain}.example/CodeSystem/local"
    for key, domain in _SOURCE_DOMAINS.items()
}
_NHS_NUMBER_VERIFIED = {
    "url": "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus",
    "valueCodeableConcept": {
        "coding": [
            {
                "system": "https://fhir.hl7.org.uk/CodeSystem/UKCore-NHSNumberVerificationStatusEngland",
                "code": "01",
                "display": "Number present and verified",
            }
        ]
    },
}


def coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def concept(system: str, code: str, display: str, text: str | None = None) -> dict[str, Any]:
    return {"coding": [coding(system, code, display)], "text": text or display}


def text_concept(text: str) -> dict[str, str]:
    return {"text": text}


def patient_reference(local_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{local_id}"}


def fhir_instant(moment: datetime) -> str:
    """Datetimes in the demo are naive UTC; FHIR instants need the zone."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def quantity(value: float, unit: str, display: str | None = None) -> dict[str, Any]:
    """A UCUM quantity; `display` is the unit's words when a source spells it out
    ("millimeter of mercury" for mm[Hg], as UK Core's examples do)."""
    return {"value": value, "unit": display or unit, "system": UCUM, "code": unit}


def _resource(resource_type: str, last_updated: datetime, **fields: Any) -> Resource:
    """Clinical builders leave out `id`: the record that keeps a resource names it."""
    resource: Resource = {"resourceType": resource_type}
    if "id" in fields:
        resource["id"] = fields.pop("id")
    resource["meta"] = {"lastUpdated": fhir_instant(last_updated)}
    resource.update({name: value for name, value in fields.items() if value is not None})
    return resource


def _period(start: datetime | date, end: datetime | date | None = None) -> dict[str, str]:
    def render(moment: datetime | date) -> str:
        return fhir_instant(moment) if isinstance(moment, datetime) else moment.isoformat()

    return {"start": render(start), **({"end": render(end)} if end else {})}


def patient(
    person: Person, source: SourceSpec, *, last_updated: datetime, restricted: bool = False
) -> Resource:
    """The Patient as `source` holds it: its own local id, and the NHS number only if it has one.
    A restricted person's is labelled so (the source still holds their address: the record must
    leave it out)."""
    view = person.source_views[source.key]
    identifiers: list[dict[str, Any]] = []
    if view.nhs_number:
        identifiers.append(
            {
                "extension": [_NHS_NUMBER_VERIFIED],
                "system": NHS_NUMBER_SYSTEM,
                "value": view.nhs_number,
            }
        )
    identifiers.append({"system": LOCAL_ID_SYSTEMS[source.key], "value": view.local_id})
    telecom = (
        [
            {
                "system": "phone",
                "value": view.phone,
                "use": "mobile" if view.phone.startswith("07") else "home",
            }
        ]
        if view.phone
        else []
    )
    if person.email and source.key == "gp":
        telecom.append({"system": "email", "value": person.email, "use": "home"})
    general_practitioner = None
    if source.key == "gp":
        general_practitioner = [
            {
                "type": "Organization",
                "identifier": {"system": ODS_SYSTEM, "value": person.gp_practice.ods_code},
                "display": person.gp_practice.name,
            },
            {"type": "Practitioner", "display": person.gp_name},
        ]
    resource = _resource(
        "Patient",
        last_updated,
        id=view.local_id,
        identifier=identifiers,
        active=True,
        name=[
            {
                "use": "official",
                "family": view.family_name,
                "given": list(view.given_names),
                "prefix": [person.prefix],
            }
        ],
        telecom=telecom or None,
        gender=view.sex,
        birthDate=view.birth_date.isoformat(),
        deceasedDateTime=person.deceased_date.isoformat() if person.deceased_date else None,
        address=[
            {
                "use": "home",
                "line": list(view.address_lines),
                "city": person.city,
                "postalCode": view.postcode,
                "country": "GB",
            }
        ],
        generalPractitioner=general_practitioner,
    )
    if restricted:
        resource["meta"]["security"] = [security_label(Confidentiality.RESTRICTED)]
    return resource


def allergy_intolerance(
    local_id: str,
    *,
    recorded: datetime,
    code: dict[str, Any],
    category: str | None,
    criticality: str | None,
    reactions: list[tuple[dict[str, Any], str]],
    recorder: str,
    clinical: tuple[str, str] = ("active", "Active"),
    verification: tuple[str, str] = ("confirmed", "Confirmed"),
) -> Resource:
    """`reactions` are (manifestation concept, severity) pairs; none for 'no known allergy'.
    `clinical` and `verification` are (code, display): ("inactive", "Inactive") and
    ("entered-in-error", "Entered in Error") for an allergy recorded by mistake."""
    return _resource(
        "AllergyIntolerance",
        recorded,
        clinicalStatus=concept(f"{_TERMINOLOGY}/allergyintolerance-clinical", *clinical),
        verificationStatus=concept(
            f"{_TERMINOLOGY}/allergyintolerance-verification", *verification
        ),
        type="allergy" if category else None,
        category=[category] if category else None,
        criticality=criticality,
        code=code,
        patient=patient_reference(local_id),
        recordedDate=fhir_instant(recorded),
        recorder={"display": recorder},
        reaction=[
            {"manifestation": [manifestation], "severity": severity}
            for manifestation, severity in reactions
        ]
        or None,
    )


def medication_statement(
    local_id: str,
    *,
    medicine: dict[str, Any],
    status: str,
    start: date,
    end: date | None,
    dosage: str,
    recorded: datetime,
    source_name: str,
) -> Resource:
    return _resource(
        "MedicationStatement",
        recorded,
        status=status,
        medicationCodeableConcept=medicine,
        subject=patient_reference(local_id),
        effectivePeriod=_period(start, end),
        dateAsserted=fhir_instant(recorded),
        informationSource={"display": source_name},
        dosage=[{"text": dosage}],
    )


def medication(medication_id: str, *, code: dict[str, Any], form: dict[str, Any]) -> Resource:
    """A Medication, to be contained in a request ("#<id>") or referenced ("Medication/<id>")."""
    return {"resourceType": "Medication", "id": medication_id, "code": code, "form": form}


def medication_request(
    local_id: str,
    *,
    medicine: dict[str, Any] | None,
    status: str,
    authored: datetime,
    dosage: str,
    requester: str,
    encounter_id: str | None,
    category: tuple[str, str] = ("discharge", "Discharge"),
    medication_reference: str | None = None,
    contained: list[Resource] | None = None,
) -> Resource:
    """Names its medicine by `medicine` (a concept) or by `medication_reference`, to a Medication
    in `contained` ("#<id>") or held by the source ("Medication/<id>"), as UK Core allows."""
    return _resource(
        "MedicationRequest",
        authored,
        contained=contained,
        status=status,
        intent="order",
        category=[concept(f"{_TERMINOLOGY}/medicationrequest-category", *category)],
        medicationCodeableConcept=medicine,
        medicationReference={"reference": medication_reference} if medication_reference else None,
        subject=patient_reference(local_id),
        encounter={"reference": f"Encounter/{encounter_id}"} if encounter_id else None,
        authoredOn=fhir_instant(authored),
        requester={"display": requester},
        dosageInstruction=[{"text": dosage}],
    )


def condition(
    local_id: str,
    *,
    code: dict[str, Any],
    category: str,
    onset: date,
    recorded: datetime,
    active: bool,
    encounter_id: str | None = None,
    verification: tuple[str, str] = ("confirmed", "Confirmed"),
) -> Resource:
    """`category` is problem-list-item (a GP problem) or encounter-diagnosis (a hospital stay);
    `verification` is (code, display), ("refuted", "Refuted") for a diagnosis ruled out."""
    clinical_status = "active" if active else "resolved"
    return _resource(
        "Condition",
        recorded,
        clinicalStatus=concept(
            f"{_TERMINOLOGY}/condition-clinical", clinical_status, clinical_status.title()
        ),
        verificationStatus=concept(f"{_TERMINOLOGY}/condition-ver-status", *verification),
        category=[
            concept(
                f"{_TERMINOLOGY}/condition-category",
                category,
                "Problem List Item" if category == "problem-list-item" else "Encounter Diagnosis",
            )
        ],
        code=code,
        subject=patient_reference(local_id),
        encounter={"reference": f"Encounter/{encounter_id}"} if encounter_id else None,
        onsetDateTime=onset.isoformat(),
        recordedDate=fhir_instant(recorded),
    )


def immunization(
    local_id: str,
    *,
    vaccine: dict[str, Any],
    given: datetime,
    lot_number: str,
    performer: str,
) -> Resource:
    return _resource(
        "Immunization",
        given,
        status="completed",
        vaccineCode=vaccine,
        patient=patient_reference(local_id),
        occurrenceDateTime=fhir_instant(given),
        recorded=fhir_instant(given),
        primarySource=True,
        lotNumber=lot_number,
        site=concept(SNOMED, "368208006", "Left upper arm structure"),
        route=concept(SNOMED, "78421000", "Intramuscular route"),
        performer=[{"actor": {"display": performer}}],
    )


def observation(
    local_id: str,
    *,
    code: dict[str, Any],
    category: str,
    effective: datetime,
    value: dict[str, Any] | None = None,
    components: list[tuple[dict[str, Any], dict[str, Any]]] | None = None,
    reference_range: tuple[float, float] | None = None,
    performer: str,
    effective_as: str = "effectiveDateTime",
    data_absent: dict[str, Any] | None = None,
) -> Resource:
    """`category` is vital-signs or laboratory; `components` are (code, quantity) pairs;
    `effective_as` the effective[x] to give the time in (effectiveInstant for a device reading);
    `data_absent` the dataAbsentReason of a test with no result."""
    unit = value["unit"] if value else None
    return _resource(
        "Observation",
        effective,
        status="final",
        category=[
            concept(
                f"{_TERMINOLOGY}/observation-category",
                category,
                "Vital Signs" if category == "vital-signs" else "Laboratory",
            )
        ],
        code=code,
        subject=patient_reference(local_id),
        **{effective_as: fhir_instant(effective)},
        issued=fhir_instant(effective),
        performer=[{"display": performer}],
        valueQuantity=value,
        dataAbsentReason=data_absent,
        referenceRange=[
            {"low": quantity(reference_range[0], unit), "high": quantity(reference_range[1], unit)}
        ]
        if reference_range and unit
        else None,
        component=[{"code": part, "valueQuantity": amount} for part, amount in components]
        if components
        else None,
    )


def diagnostic_report(
    local_id: str,
    *,
    code: dict[str, Any],
    effective: datetime,
    result_ids: list[str],
    performer: str,
    conclusion: str | None = None,
) -> Resource:
    return _resource(
        "DiagnosticReport",
        effective,
        status="final",
        category=[concept("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB", "Laboratory")],
        code=code,
        subject=patient_reference(local_id),
        effectiveDateTime=fhir_instant(effective),
        issued=fhir_instant(effective),
        performer=[{"display": performer}],
        result=[{"reference": f"Observation/{result_id}"} for result_id in result_ids],
        conclusion=conclusion,
    )


def encounter(
    local_id: str,
    *,
    encounter_class: tuple[str, str],
    encounter_type: dict[str, Any],
    status: str,
    start: datetime,
    end: datetime | None,
    service: str | None,
    practitioner: str | None,
    provider: SourceSpec,
    reason: dict[str, Any] | None = None,
    discharge_disposition: tuple[str, str] | None = None,
) -> Resource:
    """`encounter_class` is a v3 ActCode (code, display): AMB, EMER, IMP, HH or VR."""
    hospitalization = None
    if discharge_disposition:
        hospitalization = {
            "admitSource": concept(
                f"{_TERMINOLOGY}/admit-source", "emd", "From accident/emergency department"
            ),
            "dischargeDisposition": concept(
                f"{_TERMINOLOGY}/discharge-disposition", *discharge_disposition
            ),
        }
    return _resource(
        "Encounter",
        end or start,
        status=status,
        **{"class": coding("http://terminology.hl7.org/CodeSystem/v3-ActCode", *encounter_class)},
        type=[encounter_type],
        serviceType=text_concept(service) if service else None,
        subject=patient_reference(local_id),
        participant=[{"individual": {"display": practitioner}}] if practitioner else None,
        period=_period(start, end),
        reasonCode=[reason] if reason else None,
        hospitalization=hospitalization,
        serviceProvider={
            "identifier": {"system": ODS_SYSTEM, "value": provider.ods_code},
            "display": provider.name,
        },
    )


def appointment(
    local_id: str,
    *,
    status: str,
    service: str,
    description: str,
    start: datetime,
    minutes: int,
    booked: datetime,
    practitioner: str,
    follow_up: bool,
) -> Resource:
    kind = (
        ("FOLLOWUP", "A follow up visit from a previous appointment")
        if follow_up
        else (
            "ROUTINE",
            "Routine appointment - default if not valued",
        )
    )
    return _resource(
        "Appointment",
        booked,
        status=status,
        serviceType=[text_concept(service)],
        appointmentType=concept("http://terminology.hl7.org/CodeSystem/v2-0276", *kind),
        description=description,
        start=fhir_instant(start),
        end=fhir_instant(start + timedelta(minutes=minutes)),
        minutesDuration=minutes,
        created=fhir_instant(booked),
        participant=[
            {
                "actor": {**patient_reference(local_id)},
                "required": "required",
                "status": "accepted",
            },
            {"actor": {"display": practitioner}, "required": "required", "status": "accepted"},
        ],
    )


def service_request(
    local_id: str,
    *,
    status: str,
    referral_to: str,
    performer: str,
    requester: str,
    authored: datetime,
    reason: dict[str, Any] | None,
    urgent: bool,
) -> Resource:
    """A referral: coded as 'Patient referral', with the service referred to as text."""
    return _resource(
        "ServiceRequest",
        authored,
        status=status,
        intent="order",
        category=[concept(SNOMED, "3457005", "Patient referral")],
        priority="urgent" if urgent else "routine",
        code=concept(SNOMED, "3457005", "Patient referral", text=f"Referral to {referral_to}"),
        subject=patient_reference(local_id),
        authoredOn=fhir_instant(authored),
        requester={"display": requester},
        performerType=text_concept(referral_to),
        performer=[{"display": performer}],
        reasonCode=[reason] if reason else None,
    )


def care_plan(
    local_id: str,
    *,
    category: dict[str, Any],
    title: str,
    description: str,
    start: date,
    activities: list[str],
    author: str,
    created: datetime,
) -> Resource:
    return _resource(
        "CarePlan",
        created,
        status="active",
        intent="plan",
        category=[category],
        title=title,
        description=description,
        subject=patient_reference(local_id),
        period=_period(start),
        created=fhir_instant(created),
        author={"display": author},
        activity=[
            {"detail": {"status": "in-progress", "description": activity}}
            for activity in activities
        ],
    )


def flag(
    local_id: str,
    *,
    category: tuple[str, str],
    code: dict[str, Any],
    start: date,
    author: str,
    recorded: datetime,
) -> Resource:
    """`category` is a flag-category (code, display): safety, clinical, behavioral, ..."""
    return _resource(
        "Flag",
        recorded,
        status="active",
        category=[concept(f"{_TERMINOLOGY}/flag-category", *category)],
        code=code,
        subject=patient_reference(local_id),
        period=_period(start),
        author={"display": author},
    )


def document_reference(
    local_id: str,
    *,
    doc_type: dict[str, Any],
    title: str,
    text: str,
    created: datetime,
    author: str,
    custodian: SourceSpec,
    encounter_id: str | None,
    pdf_url: str | None = None,
) -> Resource:
    """A document with its (short, plain-text) body inline as a base64 attachment; with
    `pdf_url`, first the same letter as a PDF at that address on the source (`Binary/<id>`), as
    hospitals send letters: the PDF is what a reader opens, the text what a system can read."""
    text_content = {
        "attachment": {
            "contentType": "text/plain",
            "language": "en-GB",
            "data": base64.b64encode(text.encode("utf-8")).decode("ascii"),
            "title": title,
            "creation": fhir_instant(created),
        }
    }
    pdf_content = {
        "attachment": {
            "contentType": "application/pdf",
            "language": "en-GB",
            "url": pdf_url,
            "title": title,
            "creation": fhir_instant(created),
        }
    }
    return _resource(
        "DocumentReference",
        created,
        status="current",
        docStatus="final",
        type=doc_type,
        subject=patient_reference(local_id),
        date=fhir_instant(created),
        author=[{"display": author}],
        custodian={
            "identifier": {"system": ODS_SYSTEM, "value": custodian.ods_code},
            "display": custodian.name,
        },
        description=title,
        content=[pdf_content, text_content] if pdf_url else [text_content],
        context={"encounter": [{"reference": f"Encounter/{encounter_id}"}]}
        if encounter_id
        else None,
    )


def searchset_bundle(
    resources: list[Resource],
    *,
    base_url: str,
    total: int,
    self_url: str,
    next_url: str | None,
    bundle_id: str,
    timestamp: datetime,
    included: list[Resource] | None = None,
) -> Resource:
    """`included` are resources asked for by `_include` (search mode "include")."""
    links = [{"relation": "self", "url": self_url}]
    if next_url:
        links.append({"relation": "next", "url": next_url})
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"lastUpdated": fhir_instant(timestamp)},
        "type": "searchset",
        "total": total,
        "link": links,
        "entry": [
            {
                "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
            for resource in resources
        ]
        + [
            {
                "fullUrl": f"{base_url}/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "include"},
            }
            for resource in included or []
        ],
    }


def operation_outcome(code: str, diagnostics: str, *, severity: str = "error") -> Resource:
    """`code` is a FHIR issue-type: not-found, invalid, required, throttled, exception, ..."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}],
    }


def capability_statement(
    source: SourceSpec, *, base_url: str, resource_types: list[str], published: datetime
) -> Resource:
    patient_params = [
        ("identifier", "token"),
        ("family", "string"),
        ("given", "string"),
        ("birthdate", "date"),
        ("address-postalcode", "string"),
    ]

    def rest_resource(resource_type: str) -> dict[str, Any]:
        params = patient_params if resource_type == "Patient" else [("patient", "reference")]
        return {
            "type": resource_type,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": name, "type": kind} for name, kind in params],
        }

    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": fhir_instant(published),
        "publisher": source.name,
        "kind": "instance",
        "software": {"name": "demo.sources simulated FHIR server"},
        "implementation": {"description": source.name, "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "resource": [rest_resource(t) for t in ["Patient", *resource_types]],
            }
        ],
    }
