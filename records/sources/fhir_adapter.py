"""The FHIR R4 source adapter: fetch one category of one patient's record from one source.

Every resource is checked to be about the patient asked for and to be valid R4 before any of the
category is used; otherwise the whole category fails with a reason, so nothing half-true is shown.
"""

import logging
import time
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as PydanticValidationError

from records.sources.errors import MalformedResponse, SourceError, WrongPatientInResponse
from records.sources.fhir_client import FhirClient
from records.sources.resource_types import CATEGORY_RESOURCE_TYPES
from records.sources.view_items import ViewItem, view_item

logger = logging.getLogger(__name__)

# Where each resource type names its patient.
PATIENT_FIELDS: dict[str, tuple[str, ...]] = {
    "AllergyIntolerance": ("patient",),
    "Immunization": ("patient",),
    "Appointment": ("participant",),
}
DEFAULT_PATIENT_FIELDS = ("subject", "patient")


class FhirAdapter:
    """Reads a category through FHIR R4 searches (`<Type>?patient=<local id>`), with paging.

    `budget_seconds` bounds the whole fetch of one source, whatever the number of pages; each
    request's timeout is cut to what is left of it. `supported_types` (from the source's
    CapabilityStatement) spares asking for types the source does not hold.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        budget_seconds: float,
        page_size: int = 100,
        supported_types: frozenset[str] | None = None,
    ) -> None:
        self.client = FhirClient(
            base_url, timeout=timeout, deadline=time.monotonic() + budget_seconds
        )
        self.page_size = page_size
        self.supported_types = supported_types

    def fetch_category(self, *, local_id: str, category: str) -> list[ViewItem]:
        items: list[ViewItem] = []
        for resource_type in CATEGORY_RESOURCE_TYPES[category]:
            if self.supported_types is None or resource_type in self.supported_types:
                items.extend(self._fetch_type(local_id, resource_type))
        return items

    def _fetch_type(self, local_id: str, resource_type: str) -> list[ViewItem]:
        params = {"patient": local_id, "_count": str(self.page_size)}
        resources = [
            resource
            for resource in self.client.search(resource_type, params)
            if resource.get("resourceType") != "OperationOutcome"  # search warnings
        ]
        # Someone else's resource fails the category even if it is also malformed: a source that
        # mixes patients up cannot be trusted with this one.
        strangers = [r for r in resources if names_another_patient(r, local_id, self.base_url)]
        if strangers:
            raise WrongPatientInResponse(
                "wrong patient",
                detail=f"{len(strangers)} {resource_type} resource(s) about another patient: "
                + ", ".join(str(r.get("id"))[:64] for r in strangers[:5]),
            )
        for resource in resources:
            validate_resource(resource)
        if not all(refers_to_patient(r, local_id, self.base_url) for r in resources):
            raise WrongPatientInResponse(
                "wrong patient", detail=f"a {resource_type} resource names no patient"
            )
        return [view_item(resource) for resource in resources]

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def supported_resource_types(self) -> frozenset[str] | None:
        """The types the source's CapabilityStatement offers to search; None if it won't say."""
        try:
            statement = self.client.get_json(self.client.base_url + "metadata")
        except SourceError:
            return None
        types = set()
        for rest in statement.get("rest") or []:
            for resource in (rest.get("resource") or []) if isinstance(rest, dict) else []:
                if isinstance(resource, dict) and isinstance(resource.get("type"), str):
                    types.add(resource["type"])
        return frozenset(types) or None


def patient_references(resource: dict[str, Any]) -> list[str | None]:
    """Every patient reference of the resource; None for a field that is there but malformed."""
    fields = PATIENT_FIELDS.get(str(resource.get("resourceType")), DEFAULT_PATIENT_FIELDS)
    references: list[str | None] = []
    for field in fields:
        value = resource.get(field)
        if value is None:
            continue
        if field == "participant" and isinstance(value, list):
            for participant in value:
                actor = participant.get("actor") if isinstance(participant, dict) else None
                reference = actor.get("reference") if isinstance(actor, dict) else None
                if isinstance(reference, str) and "Patient/" in reference:
                    references.append(reference)
        elif isinstance(value, dict) and isinstance(value.get("reference"), str):
            references.append(value["reference"])
        else:
            references.append(None)
    return references


def refers_to_patient(resource: dict[str, Any], local_id: str, base_url: str = "") -> bool:
    """Whether the resource names exactly this patient, and no other, as its patient."""
    references = patient_references(resource)
    return bool(references) and all(
        ref is not None and _is_patient(ref, local_id, base_url) for ref in references
    )


def names_another_patient(resource: dict[str, Any], local_id: str, base_url: str = "") -> bool:
    """Whether a well-formed patient reference of the resource points at someone else."""
    return any(
        ref is not None and not _is_patient(ref, local_id, base_url)
        for ref in patient_references(resource)
    )


def _is_patient(reference: str, local_id: str, base_url: str) -> bool:
    # Relative ("Patient/X"), or absolute on this very source; never a prefix, never another host.
    if reference == f"Patient/{local_id}":
        return True
    return bool(base_url) and reference == f"{base_url.rstrip('/')}/Patient/{local_id}"


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
    except PydanticValidationError as exc:
        # Field names and messages only: pydantic's own text would echo clinical values.
        errors = exc.errors(include_input=False, include_url=False)[:3]
        where = "; ".join(".".join(map(str, e.get("loc", ()))) + f": {e['msg']}" for e in errors)
        raise MalformedResponse(
            "invalid FHIR from the source", detail=f"{resource_type}: {where}"[:300]
        ) from exc
    except (ValueError, TypeError) as exc:
        raise MalformedResponse(
            "invalid FHIR from the source", detail=f"{resource_type}: {type(exc).__name__}"
        ) from exc
