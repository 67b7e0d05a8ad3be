"""The FHIR R4 source adapter: fetch one category of one patient's record from one source.

Every resource is checked to be about the patient asked for and to be valid R4 before any of the
category is used; otherwise the whole category fails with a reason, so nothing half-true is shown.
A source that sends more resources than a heading (or one look) takes has the rest withheld:
counted, and said, never dropped silently.
"""

import dataclasses
import logging
import time
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as PydanticValidationError

from records.sources.errors import MalformedResponse, SourceError, WrongPatientInResponse
from records.sources.fhir_client import FhirClient
from records.sources.limits import ResponseLimits
from records.sources.resource_types import CATEGORY_RESOURCE_TYPES
from records.sources.view_items import MEDICINE_TYPES, ViewItem, view_item

logger = logging.getLogger(__name__)

# Where each resource type names its patient.
PATIENT_FIELDS: dict[str, tuple[str, ...]] = {
    "AllergyIntolerance": ("patient",),
    "Immunization": ("patient",),
    "Appointment": ("participant",),
}
DEFAULT_PATIENT_FIELDS = ("subject", "patient")


@dataclass
class FetchedCategory:
    """What a source gave for one heading: the items to show, and what it sent beyond the limits.

    `withheld` counts the resources not kept; `counted_all` is False when the source had more
    pages that were not read (the count is then a lower bound). `withheld_reason` says it all in
    words a reader is shown, empty when nothing was withheld.
    """

    items: list[ViewItem] = dataclasses.field(default_factory=list)
    withheld: int = 0
    counted_all: bool = True
    withheld_reason: str = ""


class FhirAdapter:
    """Reads a category through FHIR R4 searches (`<Type>?patient=<local id>`), with paging.

    `budget_seconds` bounds the whole fetch of one source, whatever the number of pages; each
    request's timeout is cut to what is left of it. `supported_types` (from the source's
    CapabilityStatement) spares asking for types the source does not hold. At most
    `max_per_category` resources are kept for one heading and `max_per_look` in all (one adapter
    serves one fetch of one patient from one source); beyond that no further page is read, and
    what is left of the page in hand, or the source's `Bundle.total`, is counted as withheld.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        budget_seconds: float,
        limits: ResponseLimits,
        max_per_category: int,
        max_per_look: int,
        page_size: int = 100,
        supported_types: frozenset[str] | None = None,
    ) -> None:
        self.client = FhirClient(
            base_url, timeout=timeout, limits=limits, deadline=time.monotonic() + budget_seconds
        )
        self.page_size = page_size
        self.supported_types = supported_types
        self.max_per_category = max_per_category
        self.max_per_look = max_per_look
        self.kept = 0  # resources kept so far in this look, every heading together

    def fetch_category(self, *, local_id: str, category: str) -> FetchedCategory:
        fetched = FetchedCategory()
        look_bound = False  # whether the look's limit, not the heading's, cut this heading short
        for resource_type in CATEGORY_RESOURCE_TYPES[category]:
            if self.supported_types is None or resource_type in self.supported_types:
                heading_room = self.max_per_category - len(fetched.items)
                look_room = self.max_per_look - self.kept - len(fetched.items)
                room = max(0, min(heading_room, look_room))
                items, withheld, counted_all = self._fetch_type(local_id, resource_type, room)
                fetched.items.extend(items)
                if withheld or not counted_all:
                    look_bound = look_bound or look_room < heading_room
                fetched.withheld += withheld
                fetched.counted_all = fetched.counted_all and counted_all
        self.kept += len(fetched.items)
        if fetched.withheld or not fetched.counted_all:
            fetched.withheld_reason = self._withheld_words(fetched, look_bound)
        return fetched

    def _withheld_words(self, fetched: FetchedCategory, look_bound: bool) -> str:
        sent = len(fetched.items) + fetched.withheld
        said = f"{sent:,}" if fetched.counted_all else f"more than {sent:,}"
        if look_bound:
            return (
                f"sent {said} resources; {len(fetched.items):,} are shown "
                f"(at most {self.max_per_look:,} from one source in one look)"
            )
        return f"sent {said} resources; at most {self.max_per_category:,} are shown"

    def _fetch_type(
        self, local_id: str, resource_type: str, room: int
    ) -> tuple[list[ViewItem], int, bool]:
        """Up to `room` items of one type; then how many more were withheld, and whether that
        count is all of them."""
        params = {"patient": local_id, "_count": str(self.page_size)}
        alongside: tuple[str, ...] = ()  # types asked for only to read the others by
        if resource_type in MEDICINE_TYPES:
            # A medicine may be named only by a Medication resource: ask for it alongside.
            params["_include"] = f"{resource_type}:medication"
            alongside = ("Medication",)
        resources: list[dict] = []
        medications: dict[str, dict] = {}  # by relative reference, for view_item
        sent, counted_all = 0, True
        for page in self.client.search_pages(resource_type, params):
            found = [
                r
                for r in page.resources
                if r.get("resourceType") != "OperationOutcome"
                and r.get("resourceType") not in alongside
            ]
            medications.update(
                (f"Medication/{r.get('id')}", r)
                for r in page.resources
                if r.get("resourceType") in alongside
            )
            # Someone else's resource fails the category even if it is also malformed, or
            # withheld: a source that mixes patients up cannot be trusted with this one.
            strangers = [r for r in found if names_another_patient(r, local_id, self.base_url)]
            if strangers:
                raise WrongPatientInResponse(
                    "wrong patient",
                    detail=f"{len(strangers)} {resource_type} resource(s) about another patient: "
                    + ", ".join(str(r.get("id"))[:64] for r in strangers[:5]),
                )
            sent += len(found)
            resources.extend(found[: room - len(resources)])
            if len(resources) == room and (sent > room or page.has_next):
                # Full: read no further. What the source says it has counts, if it adds up.
                if page.total is not None and page.total >= sent:
                    sent = page.total
                else:
                    counted_all = not page.has_next
                break
        for resource in resources:
            validate_resource(resource)
        if not all(refers_to_patient(r, local_id, self.base_url) for r in resources):
            raise WrongPatientInResponse(
                "wrong patient", detail=f"a {resource_type} resource names no patient"
            )
        items = [view_item(resource, medications) for resource in resources]
        return items, sent - len(resources), counted_all

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
