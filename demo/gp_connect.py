"""A simulated GP Connect Access Record Structured provider: a real HTTP server on loopback that
answers `POST /fhir/Patient/$gpc.getstructuredrecord` with an STU3 `collection` Bundle built from
the same synthetic population as the FHIR R4 sources, in the shapes of GP Connect's published
structured record examples (a List per clinical area, Medication resources named apart,
problems as Conditions, the patient's practice and GP).

It checks what it receives as a provider must: the Spine headers, the JWT's claims, the
Parameters body; and answers GP Connect's errors as OperationOutcome with the Spine error codes
and statuses. The demo's fault switches (demo.sources.Behaviour) work here too, and
`spine_error` makes it answer any Spine error code.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from typing import Any

from demo import fhir_resources as fhir
from demo.clinical import resources_for
from demo.population import Person, Population
from demo.sources import _LAST_UPDATED, SimulatedSource, _corrupt, _Response

SPINE_ERROR_SYSTEM = "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1"
INTERACTION_ID = "urn:nhs:names:services:gpconnect:fhir:operation:gpc.getstructuredrecord-1"
OPERATION = "$gpc.getstructuredrecord"
PROVIDER_ASID = "918999198738"
SNOMED = "http://snomed.info/sct"
_PROFILE = "https://fhir.nhs.uk/STU3/StructureDefinition/"
_CARECONNECT = "https://fhir.hl7.org.uk/STU3/StructureDefinition/"
_NHS_NUMBER_VERIFIED = {
    "url": _CARECONNECT + "Extension-CareConnect-GPC-NHSNumberVerificationStatus-1",
    "valueCodeableConcept": {
        "coding": [
            {
                "system": "https://fhir.hl7.org.uk/STU3/CodeSystem/CareConnect-NHSNumberVerificationStatus-1",
                "code": "01",
                "display": "Number present and verified",
            }
        ]
    },
}
# Each Spine error code: the HTTP status GP Connect answers it with and the FHIR issue type.
SPINE_ERRORS: dict[str, tuple[int, str, str]] = {
    "BAD_REQUEST": (400, "invalid", "Bad request"),
    "INVALID_NHS_NUMBER": (400, "value", "Invalid NHS number"),
    "NO_RELATIONSHIP": (403, "business-rule", "No legitimate relationship"),
    "ACCESS_DENIED": (403, "forbidden", "Access denied"),
    "NO_PATIENT_CONSENT": (403, "forbidden", "Patient has not provided consent to share data"),
    "PATIENT_NOT_FOUND": (404, "not-found", "Patient not found"),
    "INVALID_RESOURCE": (422, "invalid", "Invalid validation of resource"),
    "INVALID_PARAMETER": (422, "invalid", "Invalid parameter"),
    "INVALID_IDENTIFIER_SYSTEM": (422, "invalid", "Invalid identifier system"),
    "INTERNAL_SERVER_ERROR": (500, "exception", "Internal server error"),
    "NOT_IMPLEMENTED": (501, "not-supported", "Not implemented"),
}
# Each include group, the clinical area's List (SNOMED code and title) and the R4 types of the
# population's GP record it carries.
AREAS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "includeAllergies": (
        "886921000000105", "Allergies and adverse reactions", ("AllergyIntolerance",)
    ),
    "includeMedication": (
        "933361000000108", "Medications and medical devices", ("MedicationStatement",)
    ),
    "includeProblems": ("717711000000103", "Problems", ("Condition",)),
    "includeImmunisations": ("1102181000000102", "Immunisations", ("Immunization",)),
    "includeConsultations": ("1149501000000101", "List of consultations", ("Encounter",)),
    "includeInvestigations": (
        "887191000000108", "Investigations and results", ("DiagnosticReport",)
    ),
    "includeUncategorisedData": ("826501000000100", "Miscellaneous record", ("Observation",)),
    "includeReferrals": ("792931000000107", "Outbound referral", ("ServiceRequest",)),
}  # fmt: skip
ENDED_ALLERGIES = ("1103671000000101", "Ended allergies")
LIST_WARNING_EXTENSION = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-ListWarningCode-1"
)
CLAIMS = ("iss", "sub", "aud", "exp", "iat", "reason_for_request", "requested_scope",
          "requesting_device", "requesting_organization", "requesting_practitioner")  # fmt: skip


class SimulatedGpConnectProvider(SimulatedSource):
    """The GP source of `population`, speaking GP Connect instead of FHIR R4 search.

    `received` keeps the last request's headers and JWT claims, for tests to check what a
    consumer sent. `allowed_asids`: the consumers it has an agreement with (None: any); any
    other Ssp-From is ACCESS_DENIED."""

    def __init__(self, population: Population, source_key: str = "gp", **kwargs: Any) -> None:
        super().__init__(population, source_key, **kwargs)
        self.provider_asid = PROVIDER_ASID
        self.allowed_asids: set[str] | None = None
        self.received: dict[str, Any] = {}

    def _fhir(
        self, method: str, path: str, query: dict[str, str], environ: dict[str, Any]
    ) -> tuple[int, Any, list[tuple[str, str]]]:
        parts = [part for part in path.split("/") if part]
        if parts == ["fhir", "metadata"] and method == "GET":
            self._count("metadata")
            return 200, self._capability_statement(), []
        if parts[:2] == ["fhir", "Patient"] and len(parts) <= 3 and method == "GET":
            # Foundations' patient search (STU3 Patients), through the R4 sources' own code.
            return super()._fhir(method, path, query, environ)
        if parts != ["fhir", "Patient", OPERATION]:
            raise _Response(*_error("NOT_IMPLEMENTED", f"{method} {path} is not offered"))
        if method != "POST":
            raise _Response(*_error("BAD_REQUEST", f"{OPERATION} is invoked by POST"))
        self._count("Patient")
        behaviour = self.behaviour
        if behaviour.latency_ms:
            self._stopping.wait(behaviour.latency_ms / 1000)
        fault = behaviour.fault
        if fault in ("timeout", "error_500", "rate_limit", "connection_drop") and self._fire():
            if fault == "error_500":
                raise _Response(*_error("INTERNAL_SERVER_ERROR", "Simulated failure"))
            self._early_fault(fault, behaviour)
        self._check_headers(environ)
        self._check_token(environ)
        nhs_number, groups = self._read_parameters(environ)
        if behaviour.spine_error and self._fire():
            raise _Response(*_error(behaviour.spine_error, "Simulated Spine error"))
        person = self._by_nhs_number.get(nhs_number)
        if person is None:
            raise _Response(*_error("PATIENT_NOT_FOUND", "No patient with this NHS number"))
        if fault == "wrong_patient" and self._fire():
            person = self._other_person(person)
        body = structured_record(self.population, person, groups, base_url=self.base_url)
        if fault == "malformed_json" and self._fire():
            text = json.dumps(body)
            return 200, text[: len(text) // 2].encode("utf-8"), []
        if fault == "invalid_fhir" and self._fire():
            body = _corrupt_clinical(body)
        return 200, body, []

    def _count(self, kind: str) -> None:
        with self._lock:
            self._requests[kind] += 1

    def _check_headers(self, environ: dict[str, Any]) -> None:
        received = {
            name: environ.get("HTTP_" + name.upper().replace("-", "_"), "")
            for name in ("Ssp-TraceID", "Ssp-From", "Ssp-To", "Ssp-InteractionID")
        }
        self.received = {"headers": received}
        missing = [name for name, value in received.items() if not value]
        if missing:
            raise _Response(*_error("BAD_REQUEST", f"Missing header(s): {', '.join(missing)}"))
        try:
            uuid.UUID(received["Ssp-TraceID"])
        except ValueError:
            raise _Response(*_error("BAD_REQUEST", "Ssp-TraceID is not a UUID")) from None
        if received["Ssp-InteractionID"] != INTERACTION_ID:
            raise _Response(*_error("BAD_REQUEST", "Ssp-InteractionID does not match"))
        if received["Ssp-To"] != self.provider_asid:
            raise _Response(*_error("BAD_REQUEST", "Ssp-To is not this provider's ASID"))
        if self.allowed_asids is not None and received["Ssp-From"] not in self.allowed_asids:
            raise _Response(*_error("ACCESS_DENIED", "No agreement with this consumer"))

    def _check_token(self, environ: dict[str, Any]) -> None:
        """GP Connect's JWT rules: every claim there, direct care, read only, five minutes."""
        header = environ.get("HTTP_AUTHORIZATION", "")
        if not header.startswith("Bearer "):
            raise _Response(*_error("BAD_REQUEST", "No bearer token"))
        claims = _decode(header.removeprefix("Bearer ").strip())
        self.received["claims"] = claims
        missing = [name for name in CLAIMS if name not in claims]
        problems = [f"missing claim {name}" for name in missing]
        if not missing:
            if claims["reason_for_request"] != "directcare":
                problems.append("reason_for_request is not directcare")
            if claims["requested_scope"] not in ("patient/*.read", "organization/*.read"):
                problems.append("requested_scope is not patient/*.read")
            if not isinstance(claims["exp"], int) or not isinstance(claims["iat"], int):
                problems.append("exp and iat must be integers")
            elif claims["exp"] - claims["iat"] != 300:
                problems.append("exp is not five minutes after iat")
            elif claims["exp"] < time.time() or claims["iat"] > time.time() + 60:
                problems.append("the token is out of date")
            if claims["aud"] != self.base_url:
                problems.append("aud is not this provider's endpoint")
            for name, kind in (
                ("requesting_device", "Device"),
                ("requesting_organization", "Organization"),
                ("requesting_practitioner", "Practitioner"),
            ):
                if not isinstance(claims[name], dict) or claims[name].get("resourceType") != kind:
                    problems.append(f"{name} is not a {kind}")
            practitioner = claims["requesting_practitioner"]
            if isinstance(practitioner, dict) and practitioner.get("id") != claims["sub"]:
                problems.append("sub is not the requesting practitioner's id")
            organisation = claims["requesting_organization"]
            if isinstance(organisation, dict) and not any(
                isinstance(i, dict) and i.get("system") == fhir.ODS_SYSTEM and i.get("value")
                for i in organisation.get("identifier") or []
            ):
                problems.append("requesting_organization has no ODS code")
        if problems:
            raise _Response(*_error("BAD_REQUEST", "JWT: " + "; ".join(problems)))

    def _read_parameters(self, environ: dict[str, Any]) -> tuple[str, set[str]]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            body = json.loads(environ["wsgi.input"].read(length))
        except ValueError:
            raise _Response(*_error("INVALID_RESOURCE", "Body is not JSON")) from None
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise _Response(*_error("INVALID_RESOURCE", "Body is not a Parameters resource"))
        self.received["parameters"] = body
        nhs_number, groups = None, set()
        for parameter in body.get("parameter") or []:
            name = parameter.get("name") if isinstance(parameter, dict) else None
            if name == "patientNHSNumber":
                identifier = parameter.get("valueIdentifier") or {}
                if identifier.get("system") != fhir.NHS_NUMBER_SYSTEM:
                    raise _Response(*_error("INVALID_IDENTIFIER_SYSTEM", "Not the NHS number"))
                nhs_number = str(identifier.get("value", ""))
            elif name in AREAS:
                parts = {p.get("name") for p in parameter.get("part") or [] if isinstance(p, dict)}
                if name == "includeAllergies" and "includeResolvedAllergies" not in parts:
                    raise _Response(*_error("INVALID_PARAMETER", "includeResolvedAllergies"))
                groups.add(name)
            else:
                raise _Response(*_error("INVALID_PARAMETER", f"Unknown parameter {name!r}"))
        if nhs_number is None:
            raise _Response(*_error("INVALID_PARAMETER", "patientNHSNumber is required"))
        if not _valid_nhs_number(nhs_number):
            raise _Response(*_error("INVALID_NHS_NUMBER", "The NHS number is not valid"))
        return nhs_number, groups

    def _capability_statement(self) -> dict[str, Any]:
        return {
            "resourceType": "CapabilityStatement",
            "version": "1.6.0",
            "name": "GP Connect Access Record Structured (simulated)",
            "status": "active",
            "date": "2026-11-01",
            "publisher": self.source.name,
            "kind": "instance",
            "fhirVersion": "3.0.1",
            "acceptUnknown": "both",
            "format": ["application/fhir+json"],
            "rest": [
                {
                    "mode": "server",
                    "operation": [
                        {
                            "name": "gpc.getstructuredrecord",
                            "definition": {
                                "reference": "https://fhir.nhs.uk/STU3/OperationDefinition/"
                                "GPConnect-GetStructuredRecord-Operation-1"
                            },
                        }
                    ],
                }
            ],
        }


def structured_record(
    population: Population, person: Person, groups: set[str], *, base_url: str
) -> dict[str, Any]:
    """The person's GP record as GP Connect's structured record: their Patient, practice and GP,
    then each clinical area asked, with its List."""
    source = population.source("gp")
    local_id = person.local_ids["gp"]
    held = resources_for(population, person, "gp")
    practice_id, gp_id = "practice", "gp"
    entries: list[dict[str, Any]] = [
        stu3_patient(fhir.patient(person, source, last_updated=_LAST_UPDATED), practice_id),
        {
            "resourceType": "Organization",
            "id": practice_id,
            "meta": {"profile": [_CARECONNECT + "CareConnect-GPC-Organization-1"]},
            "identifier": [{"system": fhir.ODS_SYSTEM, "value": person.gp_practice.ods_code}],
            "name": person.gp_practice.name,
        },
        {
            "resourceType": "Practitioner",
            "id": gp_id,
            "meta": {"profile": [_CARECONNECT + "CareConnect-GPC-Practitioner-1"]},
            "name": [{"text": person.gp_name}],
        },
    ]
    for group, (code, title, types) in AREAS.items():
        if group not in groups:
            continue
        area = [r for t in types for r in held.get(t, [])]
        if group == "includeAllergies":
            current = [r for r in area if _clinical_status(r) != "resolved"]
            ended = [r for r in area if _clinical_status(r) == "resolved"]
            entries += _area(current, local_id, code, title)
            entries += _area(ended, local_id, *ENDED_ALLERGIES)
        else:
            # Some practices hold problems they will not share: the List says so (no count).
            confidential = group == "includeProblems" and person.index % 10 == 3
            entries += _area(area, local_id, code, title, confidential=confidential)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [_PROFILE + "GPConnect-StructuredRecord-Bundle-1"]},
        "type": "collection",
        "entry": [{"resource": resource} for resource in entries],
    }


def _area(
    resources: list[dict[str, Any]],
    local_id: str,
    code: str,
    title: str,
    *,
    confidential: bool = False,
) -> list[dict[str, Any]]:
    """One clinical area: its List (empty with a reason when the record holds none), then its
    resources in STU3 (a medicine as its Medication, statement and authorisation)."""
    converted: list[dict[str, Any]] = []
    listed: list[str] = []
    for resource in resources:
        stu3 = to_stu3(resource)
        converted += stu3
        listed.append(f"{stu3[-1]['resourceType']}/{stu3[-1]['id']}")
    heading: dict[str, Any] = {
        "resourceType": "List",
        "id": f"list-{code}",
        "meta": {"profile": [_CARECONNECT + "CareConnect-GPC-List-1"]},
        "status": "current",
        "mode": "snapshot",
        "title": title,
        "code": {"coding": [{"system": SNOMED, "code": code, "display": title}]},
        "subject": {"reference": f"Patient/{local_id}"},
        "date": "2026-11-01T00:00:00Z",
        "orderedBy": {
            "coding": [{"system": "http://hl7.org/fhir/list-order", "code": "event-date"}]
        },
    }
    if confidential:
        heading["extension"] = [{"url": LIST_WARNING_EXTENSION, "valueCode": "confidential-items"}]
        heading["note"] = [
            {"text": "Items excluded due to confidentiality and/or patient preferences."}
        ]
    if listed:
        heading["entry"] = [{"item": {"reference": reference}} for reference in listed]
    else:
        empty = {"system": "http://hl7.org/fhir/list-empty-reason", "code": "no-content-recorded"}
        heading["emptyReason"] = {"coding": [empty], "text": "Information not available"}
    return [heading, *converted]


def stu3_patient(patient: dict[str, Any], practice_id: str) -> dict[str, Any]:
    """The R4 demo Patient in CareConnect-GPC-Patient-1's shape (STU3 has no Reference.type)."""
    identifiers = []
    for identifier in patient.get("identifier") or []:
        if identifier.get("system") == fhir.NHS_NUMBER_SYSTEM:
            identifier = {**identifier, "extension": [_NHS_NUMBER_VERIFIED]}
        identifiers.append(identifier)
    stu3 = {
        **patient,
        "meta": {"profile": [_CARECONNECT + "CareConnect-GPC-Patient-1"]},
        "identifier": identifiers,
        "generalPractitioner": [{"reference": "Practitioner/gp"}],
        "managingOrganization": {"reference": f"Organization/{practice_id}"},
    }
    return {key: value for key, value in stu3.items() if value is not None}


def to_stu3(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """One R4 resource of the demo's GP record in STU3, as GP Connect sends it: the item last,
    anything it needs before it (a medicine's Medication and authorisation)."""
    kind = resource["resourceType"]
    keep = {key: resource[key] for key in ("id", "meta", "identifier") if key in resource}
    profile = _CARECONNECT + f"CareConnect-GPC-{_PROFILES.get(kind, kind)}-1"
    keep["meta"] = {**resource.get("meta", {}), "profile": [profile]}
    if kind == "AllergyIntolerance":
        return [_allergy(resource, keep)]
    if kind == "Condition":
        return [_condition(resource, keep)]
    if kind == "MedicationStatement":
        return _medicine(resource, keep)
    if kind == "Immunization":
        return [_immunisation(resource, keep)]
    if kind == "Encounter":
        return [_encounter(resource, keep)]
    if kind == "Observation":
        return [_observation(resource, keep)]
    if kind == "DiagnosticReport":
        return [_report(resource, keep)]
    if kind == "ServiceRequest":
        return [_referral(resource, keep)]
    raise ValueError(f"no STU3 shape for {kind}")


_PROFILES = {"Condition": "ProblemHeader-Condition", "ServiceRequest": "ReferralRequest"}


def _clinical_status(resource: dict[str, Any]) -> str:
    status = resource.get("clinicalStatus")
    if isinstance(status, dict):
        return next((c.get("code", "") for c in status.get("coding") or []), "")
    return str(status or "")


def _code(concept: Any) -> str | None:
    if isinstance(concept, dict):
        return next((c.get("code") for c in concept.get("coding") or [] if c.get("code")), None)
    return concept if isinstance(concept, str) else None


def _picked(resource: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: resource[name] for name in names if name in resource}


def _allergy(resource: dict[str, Any], keep: dict[str, Any]) -> dict[str, Any]:
    stu3 = {
        "resourceType": "AllergyIntolerance",
        **keep,
        "clinicalStatus": _clinical_status(resource) or "active",
        "verificationStatus": _code(resource.get("verificationStatus")) or "unconfirmed",
        **_picked(resource, "type", "category", "criticality", "code", "patient", "reaction"),
        "assertedDate": resource.get("recordedDate"),
    }
    if "onsetDateTime" in resource:
        stu3["onsetDateTime"] = resource["onsetDateTime"]
    return {k: v for k, v in stu3.items() if v is not None}


def _condition(resource: dict[str, Any], keep: dict[str, Any]) -> dict[str, Any]:
    stu3 = {
        "resourceType": "Condition",
        **keep,
        "clinicalStatus": _clinical_status(resource) or None,
        "verificationStatus": _code(resource.get("verificationStatus")),
        **_picked(resource, "category", "code", "subject", "onsetDateTime", "abatementDateTime"),
        "assertedDate": resource.get("recordedDate"),
    }
    return {k: v for k, v in stu3.items() if v is not None}


def _medicine(resource: dict[str, Any], keep: dict[str, Any]) -> list[dict[str, Any]]:
    """GP Connect names a medicine by a Medication resource, and sends the statement with the
    authorisation it is based on (a MedicationRequest, intent plan)."""
    ident = resource["id"]
    medication = {
        "resourceType": "Medication",
        "id": f"{ident}-medication",
        "meta": {"profile": [_CARECONNECT + "CareConnect-GPC-Medication-1"]},
        "code": resource.get("medicationCodeableConcept") or {"text": "Medicine"},
    }
    named = {"medicationReference": {"reference": f"Medication/{medication['id']}"}}
    status = resource.get("status", "active")
    plan = {
        "resourceType": "MedicationRequest",
        "id": f"{ident}-authorisation",
        "meta": {"profile": [_CARECONNECT + "CareConnect-GPC-MedicationRequest-1"]},
        "status": status if status in ("active", "completed", "stopped") else "active",
        "intent": "plan",
        **named,
        "subject": resource["subject"],
        "authoredOn": resource.get("dateAsserted"),
        **_picked(resource, "dosage"),
    }
    if "dosage" in plan:
        plan["dosageInstruction"] = plan.pop("dosage")
    statement = {
        "resourceType": "MedicationStatement",
        **keep,
        "basedOn": [{"reference": f"MedicationRequest/{plan['id']}"}],
        "status": status if status in ("active", "completed", "stopped", "intended") else "active",
        **named,
        **_picked(resource, "effectivePeriod", "effectiveDateTime", "dateAsserted", "subject"),
        "taken": "unk",
        **_picked(resource, "dosage"),
    }
    return [medication, {k: v for k, v in plan.items() if v is not None}, statement]


def _immunisation(resource: dict[str, Any], keep: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        **keep,
        "status": "completed",
        "notGiven": resource.get("status") == "not-done",
        **_picked(resource, "vaccineCode", "patient", "lotNumber", "site", "route"),
        "date": resource.get("occurrenceDateTime"),
        "primarySource": bool(resource.get("primarySource", True)),
    }


def _encounter(resource: dict[str, Any], keep: dict[str, Any]) -> dict[str, Any]:
    stu3 = {
        "resourceType": "Encounter",
        **keep,
        **_picked(resource, "status", "class", "type", "subject", "period", "serviceProvider"),
    }
    if "reasonCode" in resource:
        stu3["reason"] = resource["reasonCode"]
    return stu3


def _observation(resource: dict[str, Any], keep: dict[str, Any]) -> dict[str, Any]:
    stu3 = {
        "resourceType": "Observation",
        **keep,
        **_picked(
            resource, "status", "category", "code", "subject", "effectiveDateTime", "issued",
            "valueQuantity", "valueString", "valueCodeableConcept", "dataAbsentReason",
            "referenceRange", "component",
        ),
    }  # fmt: skip
    if "effectiveInstant" in resource:  # STU3 has no effectiveInstant: the same moment
        stu3["effectiveDateTime"] = resource["effectiveInstant"]
    return stu3


def _report(resource: dict[str, Any], keep: dict[str, Any]) -> dict[str, Any]:
    stu3 = {
        "resourceType": "DiagnosticReport",
        **keep,
        **_picked(
            resource, "status", "code", "subject", "effectiveDateTime", "issued", "result",
            "conclusion",
        ),
    }  # fmt: skip
    if resource.get("category"):
        stu3["category"] = resource["category"][0]  # STU3: one category
    return stu3


def _referral(resource: dict[str, Any], keep: dict[str, Any]) -> dict[str, Any]:
    status = resource.get("status", "active")
    return {
        "resourceType": "ReferralRequest",
        **keep,
        "status": status if status in ("draft", "active", "completed", "cancelled") else "active",
        "intent": "order",
        **_picked(resource, "priority", "subject", "authoredOn", "reasonCode"),
        "serviceRequested": [resource["code"]] if resource.get("code") else [],
        "recipient": [p for p in resource.get("performer") or [] if isinstance(p, dict)],
    }


def _error(code: str, diagnostics: str) -> tuple[int, dict[str, Any]]:
    status, issue_type, display = SPINE_ERRORS[code]
    return status, {
        "resourceType": "OperationOutcome",
        "meta": {"profile": [_PROFILE + "GPConnect-OperationOutcome-1"]},
        "issue": [
            {
                "severity": "error",
                "code": issue_type,
                "details": {
                    "coding": [{"system": SPINE_ERROR_SYSTEM, "code": code, "display": display}]
                },
                "diagnostics": diagnostics,
            }
        ],
    }


def _decode(token: str) -> dict[str, Any]:
    """The claims of a JWT (the signature is not checked: the demo holds no consumer's key)."""
    try:
        header, payload, _ = token.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        alg = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))).get("alg")
    except (ValueError, binascii.Error):
        raise _Response(*_error("BAD_REQUEST", "The bearer token is not a JWT")) from None
    if not isinstance(claims, dict) or alg not in ("none", "RS256", "RS512"):
        raise _Response(*_error("BAD_REQUEST", "The bearer token is not a JWT we accept"))
    return claims


def _valid_nhs_number(number: str) -> bool:
    if len(number) != 10 or not number.isdigit():
        return False
    total = sum(int(digit) * (10 - index) for index, digit in enumerate(number[:9]))
    check = 11 - total % 11
    return (0 if check == 11 else check) == int(number[9]) and check != 10


def _corrupt_clinical(body: dict[str, Any]) -> dict[str, Any]:
    """Every other clinical resource broken (the Patient and context sound), as the R4 sources'
    invalid_fhir fault does, so that each resource must be judged on its own."""
    entries, flip = [], False
    for entry in body["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] in (
            "Patient",
            "Organization",
            "Practitioner",
            "List",
            "Medication",
        ):
            entries.append(entry)
            continue
        flip = not flip
        entries.append({"resource": _corrupt(resource)} if flip else entry)
    return {**body, "entry": entries}
