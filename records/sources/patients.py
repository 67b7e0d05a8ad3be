"""Read a source's FHIR R4 Patient resource into the few facts identity linking needs.

Validation is fhir.resources' R4B models (R4 data; the package's default models are R5).
"""

import datetime
from dataclasses import dataclass

from fhir.resources.R4B.patient import Patient as FhirPatient
from pydantic import ValidationError as PydanticValidationError

from records.confidentiality import Confidentiality, confidentiality_of
from records.identifiers import NHS_NUMBER_SYSTEM
from records.matching import normalise_postcode
from records.sources.errors import InvalidResource

VERIFICATION_EXTENSION = (
    "https://fhir.hl7.org.uk/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
VERIFIED = "01"  # "Number present and verified"
MAX_ID_LENGTH = 64  # FHIR ids are at most 64 characters


@dataclass(frozen=True)
class SourcePatient:
    """How one source knows a person: its local id and the demographics it holds."""

    local_id: str
    nhs_number: str | None
    nhs_number_verified: bool | None  # None: the source does not say
    given_names: str
    family_name: str
    birth_date: datetime.date | None
    postcode: str
    # As the source labels the person (meta.security); a restricted person's postcode is
    # never copied onto the review queue.
    confidentiality: Confidentiality = Confidentiality.UNRESTRICTED


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
    if len(patient.id) > MAX_ID_LENGTH:
        raise InvalidResource("Patient id is too long", detail=patient.id[:100])
    nhs_number, verified = _nhs_number(patient)
    return SourcePatient(
        local_id=patient.id,
        nhs_number=nhs_number,
        nhs_number_verified=verified,
        given_names=_given_names(patient)[:200],
        family_name=_family_name(patient)[:100],
        # A partial date (year, or year and month) is valid FHIR but says too little to match on.
        birth_date=patient.birthDate if isinstance(patient.birthDate, datetime.date) else None,
        postcode=_postcode(patient),
        confidentiality=confidentiality_of(resource),
    )


def _nhs_number(patient: FhirPatient) -> tuple[str | None, bool | None]:
    for identifier in patient.identifier or []:
        if identifier.system == NHS_NUMBER_SYSTEM and identifier.value:
            return identifier.value.strip()[:20], _verified(identifier)
    return None, None


def _verified(identifier) -> bool | None:
    for extension in identifier.extension or []:
        if extension.url == VERIFICATION_EXTENSION and extension.valueCodeableConcept:
            codes = {coding.code for coding in extension.valueCodeableConcept.coding or []}
            return VERIFIED in codes
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
            postcode = normalise_postcode(address.postalCode)
            return postcode if len(postcode) <= 8 else ""  # not a UK postcode: no use for matching
    return ""


def _first_error(exc: Exception) -> str:
    if isinstance(exc, PydanticValidationError):
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error.get("loc", ()))
        return f"{where}: {error.get('msg', '')}"[:300]
    return str(exc)[:300]
