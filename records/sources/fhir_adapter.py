"""The FHIR R4 source adapter: fetch one category of one patient's record from one source.

Every resource is checked to be about the patient asked for and to be valid R4 before any of the
category is used; otherwise the whole category fails with a reason, so nothing half-true is shown.
"""

import logging
import time
from typing import Any, Protocol

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as PydanticValidationError

from records.categories import RESOURCE_TYPES
from records.sources.errors import (
    MalformedResponse,
    SourceUnavailable,
    WrongPatientInResponse,
)
from records.sources.fhir_client import FhirClient
from records.sources.view_items import ViewItem, view_item

logger = logging.getLogger(__name__)

# Where each resource type names its patient.
PATIENT_FIELDS: dict[str, tuple[str, ...]] = {
    "AllergyIntolerance": ("patient",),
    "Immunization": ("patient",),
    "Appointment": ("participant",),
}
DEFAULT_PATIENT_FIELDS = ("subject", "patient")


class SourceAdapter(Protocol):
    """What the fetcher needs of any kind of source."""

    def fetch_category(self, *, local_id: str, category: str) -> list[ViewItem]: ...


class FhirAdapter:
    """Reads a category through FHIR R4 searches (`<Type>?patient=<local id>`), with paging.

    `budget_seconds` bounds the whole fetch of one source, whatever the number of pages.
    """

    def __init__(
        self, base_url: str, *, timeout: float, budget_seconds: float, page_size: int = 100
    ) -> None:
        self.client = FhirClient(base_url, timeout=timeout)
        self.deadline = time.monotonic() + budget_seconds
        self.page_size = page_size

    def fetch_category(self, *, local_id: str, category: str) -> list[ViewItem]:
        items: list[ViewItem] = []
        for resource_type in RESOURCE_TYPES[category]:
            items.extend(self._fetch_type(local_id, resource_type))
        return items

    def _fetch_type(self, local_id: str, resource_type: str) -> list[ViewItem]:
        params = {"patient": local_id, "_count": str(self.page_size)}
        resources = []
        for resource in self.client.search(resource_type, params):
            if time.monotonic() > self.deadline:
                raise SourceUnavailable("timed out", detail="the source's time budget ran out")
            if resource.get("resourceType") == "OperationOutcome":
                continue  # search warnings, not record content
            resources.append(resource)
        if time.monotonic() > self.deadline:
            raise SourceUnavailable("timed out", detail="the source's time budget ran out")
        for resource in resources:
            validate_resource(resource)
        strangers = [r for r in resources if not refers_to_patient(r, local_id)]
        if strangers:
            raise WrongPatientInResponse(
                "wrong patient",
                detail=f"{len(strangers)} {resource_type} resource(s) not about {local_id}: "
                + ", ".join(str(r.get("id")) for r in strangers[:5]),
            )
        return [view_item(resource) for resource in resources]


def refers_to_patient(resource: dict[str, Any], local_id: str) -> bool:
    """Whether the resource names exactly this patient, and no other, as its patient."""
    references = patient_references(resource)
    return bool(references) and all(_is_patient(ref, local_id) for ref in references)


def patient_references(resource: dict[str, Any]) -> list[str]:
    fields = PATIENT_FIELDS.get(str(resource.get("resourceType")), DEFAULT_PATIENT_FIELDS)
    references: list[str] = []
    for field in fields:
        value = resource.get(field)
        if field == "participant" and isinstance(value, list):
            for participant in value:
                actor = participant.get("actor") if isinstance(participant, dict) else None
                reference = actor.get("reference") if isinstance(actor, dict) else None
                if isinstance(reference, str) and "Patient/" in reference:
                    references.append(reference)
        elif isinstance(value, dict):
            reference = value.get("reference")
            references.append(reference if isinstance(reference, str) else "")
    return references


def _is_patient(reference: str, local_id: str) -> bool:
    # Relative ("Patient/X") or absolute ("https://host/fhir/Patient/X"), never a prefix match.
    return reference == f"Patient/{local_id}" or reference.endswith(f"/Patient/{local_id}")


def validate_resource(resource: dict[str, Any]) -> None:
    """R4 validation with fhir.resources (R4B models); a type it does not know is kept as it is."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        raise MalformedResponse("invalid FHIR from the source", detail="resource has no type")
    try:
        model = get_fhir_model_class(resource_type)
    except (ValueError, KeyError):
        logger.info("keeping resource of unknown type %s as it is", resource_type)
        return
    try:
        model.model_validate(resource)
    except (PydanticValidationError, ValueError, TypeError) as exc:
        raise MalformedResponse(
            "invalid FHIR from the source", detail=f"{resource_type}/{resource.get('id')}: {exc}"
        ) from exc
