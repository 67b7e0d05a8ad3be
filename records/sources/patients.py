"""Read a source's FHIR R4 Patient resource into the few facts identity linking needs.

Validation is fhir.resources' R4B models (R4 data; the package's default models are R5).
"""

import datetime
from dataclasses import dataclass

from fhir.resources.R4B.patient import Patient as FhirPatient
from pydantic import ValidationError as PydanticValidationError

from records.sources.errors import InvalidResource

NHS_NUMBER_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"


@dataclass(frozen=True)
class SourcePatient:
    """How one source knows a person: its local id and the demographics it holds."""

    local_id: str
    nhs_number: str | None
    given_names: str
    family_name: str
    birth_date: datetime.date | None
    postcode: str


def parse_patient(resource: dict) -> SourcePatient:
    """Validate a Patient resource and pick out its identity; raise InvalidResource if unusable."""
    if resource.get("resourceType") != "Patient":
        raise InvalidResource(
            "not a Patient resource", detail=f"resourceType={resource.get('resourceType')!r}"
        )
    try:
        patient = FhirPatient.model_validate(resource)
    except (PydanticValidationError, ValueError, TypeError) as exc:
        raise InvalidResource("invalid FHIR Patient", detail=_first_error(exc)) from exc
    if not patient.id:
        raise InvalidResource("Patient has no id")
    return SourcePatient(
        local_id=patient.id,
        nhs_number=_nhs_number(patient),
        given_names=_given_names(patient),
        family_name=_family_name(patient),
        birth_date=patient.birthDate,
        postcode=_postcode(patient),
    )


def _nhs_number(patient: FhirPatient) -> str | None:
    for identifier in patient.identifier or []:
        if identifier.system == NHS_NUMBER_SYSTEM and identifier.value:
            return identifier.value.strip()
    return None


def _official_name(patient: FhirPatient):
    names = patient.name or []
    for name in names:
        if name.use in (None, "official", "usual"):
            return name
    return names[0] if names else None


def _given_names(patient: FhirPatient) -> str:
    name = _official_name(patient)
    return " ".join(name.given or []) if name else ""


def _family_name(patient: FhirPatient) -> str:
    name = _official_name(patient)
    return (name.family or "") if name else ""


def _postcode(patient: FhirPatient) -> str:
    for address in patient.address or []:
        if address.postalCode:
            return address.postalCode.strip().upper()
    return ""


def _first_error(exc: Exception) -> str:
    if isinstance(exc, PydanticValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error.get("loc", ()))
        return f"{where}: {error.get('msg', '')}"[:300]
    return str(exc)[:300]
