"""The FHIR R4 source adapter: fetch one category of one patient's record from one source.

Each resource is judged on its own: valid R4 and about this patient (by any legitimate form of
patient reference, records.sources.patient_references) is shown; invalid, or naming no patient
we can recognise, is withheld and counted with its reason. One resource that positively names
someone else makes the whole heading from this source suspect (WrongPatientInResponse): nothing
of it is shown. A source that sends more resources than a heading (or one look) takes has the
rest withheld too: counted, and said, never dropped silently.
"""

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError as PydanticValidationError

from records.identifiers import NHS_NUMBER_SYSTEM
from records.sources.errors import MalformedResponse, WrongPatientInResponse
from records.sources.fhir_client import FhirClient
from records.sources.limits import ResponseLimits
from records.sources.patient_references import PatientIdentity, Verdict, judge
from records.sources.resource_types import CATEGORY_RESOURCE_TYPES
from records.sources.view_items import MEDICINE_TYPES, ViewItem, view_item

logger = logging.getLogger(__name__)

# Sent with a search's matches as context (a Patient, a Medication, who recorded it), never as
# items of a heading: not shown, not counted.
CONTEXT_TYPES = frozenset(
    {"OperationOutcome", "Patient", "Medication", "Practitioner", "PractitionerRole",
     "Organization", "Location"}
)  # fmt: skip
# How a source is asked for one patient's resources (SourceSystem.patient_search).
SEARCH_PARAMETERS = {"identifier": "patient:identifier", "chained": "patient.identifier"}
MOST_DETAILS = 2  # validation errors named in a reason; the count covers the rest


@dataclass
class Withheld:
    """What a source sent for one heading but is not shown, by reason."""

    invalid: int = 0
    invalid_details: list[str] = dataclasses.field(default_factory=list)
    no_patient: int = 0  # names no patient we can recognise (a display alone, another server)
    other_type: int = 0  # of a type the search did not ask for
    unreadable: int = 0  # valid, about this patient, but our mapping failed on it (logged)
    beyond_limits: int = 0  # past LCR_SOURCE_MAX_RESOURCES_PER_CATEGORY or _PER_LOOK

    @property
    def count(self) -> int:
        return (
            self.invalid
            + self.no_patient
            + self.other_type
            + self.unreadable
            + (self.beyond_limits)
        )

    def add(self, other: "Withheld") -> None:
        for name in ("invalid", "no_patient", "other_type", "unreadable", "beyond_limits"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for detail in other.invalid_details:
            self.note_invalid(detail)

    def note_invalid(self, detail: str) -> None:
        if detail not in self.invalid_details and len(self.invalid_details) < MOST_DETAILS:
            self.invalid_details.append(detail[:120])

    def judged_words(self) -> str:
        """The reasons other than the limits: "2 invalid (Condition: code: ...), 1 with ..."."""
        parts = []
        if self.invalid:
            parts.append(f"{self.invalid:,} invalid ({'; '.join(self.invalid_details)})")
        if self.no_patient:
            parts.append(f"{self.no_patient:,} with no patient we can recognise")
        if self.other_type:
            parts.append(f"{self.other_type:,} of a type not asked for")
        if self.unreadable:
            parts.append(f"{self.unreadable:,} we could not read (an error on our side, logged)")
        return ", ".join(parts)


@dataclass
class FetchedCategory:
    """What a source gave for one heading: the items to show, and what it sent but is not shown.

    `withheld` counts the resources not shown, whatever the reason; `counted_all` is False when
    the source had more pages that were not read (the count is then a lower bound).
    `withheld_reason` says it all in words a reader is shown, beginning "sent ...", empty when
    nothing was withheld.
    """

    items: list[ViewItem] = dataclasses.field(default_factory=list)
    withheld: int = 0
    counted_all: bool = True
    withheld_reason: str = ""


class FhirAdapter:
    """Reads a category through FHIR R4 searches (`<Type>?patient=<local id>`, or by NHS number
    where the source wants it), with paging.

    `budget_seconds` bounds the whole fetch of one source, whatever the number of pages; each
    request's timeout is cut to what is left of it. `supported_types` (from the source's
    CapabilityStatement) spares asking for types the source does not hold. At most
    `max_per_category` resources are kept for one heading and `max_per_look` in all (one adapter
    serves one fetch of one patient from one source); beyond that no further page is read, and
    what is left of the page in hand, or the source's `Bundle.total`, is counted as withheld.
    `alias_base_urls`: other addresses of the same server, on which a patient reference is as
    good as on `base_url`. `patient_search`: "local_id" (`patient=`), "identifier"
    (`patient:identifier=`) or "chained" (`patient.identifier=`).
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
        alias_base_urls: tuple[str, ...] = (),
        patient_search: str = "local_id",
    ) -> None:
        self.client = FhirClient(
            base_url, timeout=timeout, limits=limits, deadline=time.monotonic() + budget_seconds
        )
        self.page_size = page_size
        self.supported_types = supported_types
        self.max_per_category = max_per_category
        self.max_per_look = max_per_look
        self.base_urls = (self.client.base_url, *alias_base_urls)
        self.patient_search = patient_search
        self.kept = 0  # resources kept so far in this look, every heading together

    def fetch_category(
        self, *, local_id: str, category: str, nhs_number: str | None = None
    ) -> FetchedCategory:
        """One heading from this source; WrongPatientInResponse if it names someone else."""
        patient = PatientIdentity(local_id, self.base_urls, nhs_number)
        fetched, withheld = FetchedCategory(), Withheld()
        look_bound = False  # whether the look's limit, not the heading's, cut this heading short
        for resource_type in CATEGORY_RESOURCE_TYPES[category]:
            if self.supported_types is None or resource_type in self.supported_types:
                taken = len(fetched.items) + withheld.count - withheld.beyond_limits
                heading_room = self.max_per_category - taken
                look_room = self.max_per_look - self.kept - taken
                room = max(0, min(heading_room, look_room))
                items, of_type, counted_all = self._fetch_type(patient, resource_type, room)
                fetched.items.extend(items)
                if of_type.beyond_limits or not counted_all:
                    look_bound = look_bound or look_room < heading_room
                withheld.add(of_type)
                fetched.counted_all = fetched.counted_all and counted_all
        self.kept += len(fetched.items) + withheld.count - withheld.beyond_limits
        fetched.withheld = withheld.count
        if withheld.count or not fetched.counted_all:
            fetched.withheld_reason = self._withheld_words(fetched, withheld, look_bound)
        return fetched

    def _withheld_words(
        self, fetched: FetchedCategory, withheld: Withheld, look_bound: bool
    ) -> str:
        judged = withheld.judged_words()
        if not withheld.beyond_limits and fetched.counted_all:
            return f"sent {judged}"
        sent = len(fetched.items) + fetched.withheld
        said = f"{sent:,}" if fetched.counted_all else f"more than {sent:,}"
        if look_bound:
            words = (
                f"sent {said} resources; {len(fetched.items):,} are shown "
                f"(at most {self.max_per_look:,} from one source in one look)"
            )
        else:
            words = f"sent {said} resources; at most {self.max_per_category:,} are shown"
        return f"{words}; {judged}" if judged else words

    def _search_parameters(self, patient: PatientIdentity) -> dict[str, str]:
        name = SEARCH_PARAMETERS.get(self.patient_search)
        if name is not None and patient.nhs_number:
            return {name: f"{NHS_NUMBER_SYSTEM}|{patient.nhs_number}"}
        return {"patient": patient.local_id}

    def _fetch_type(
        self, patient: PatientIdentity, resource_type: str, room: int
    ) -> tuple[list[ViewItem], Withheld, bool]:
        """Up to `room` resources of one type, each judged: the items shown, what was withheld
        and why, and whether the count of what is beyond the limits is all of it."""
        params = {**self._search_parameters(patient), "_count": str(self.page_size)}
        if resource_type in MEDICINE_TYPES:
            # A medicine may be named only by a Medication resource: ask for it alongside.
            params["_include"] = f"{resource_type}:medication"
        kept: list[tuple[dict, dict[str, dict]]] = []  # each with its page's entries by fullUrl
        medications: dict[str, dict] = {}  # sent alongside, by relative reference, for view_item
        sent, counted_all = 0, True
        for page in self.client.search_pages(resource_type, params):
            found = [r for r in page.resources if r.get("resourceType") not in CONTEXT_TYPES]
            medications.update(
                (f"Medication/{r.get('id')}", r)
                for r in (*page.resources, *page.included)  # a match, or sent as context
                if r.get("resourceType") == "Medication"
            )
            # Someone else's resource makes the heading suspect even if it is also malformed,
            # or past the limits: a source that mixes patients up cannot be trusted with this one.
            strangers = [r for r in found if judge(r, patient, page.full_urls) is Verdict.ANOTHER]
            if strangers:
                ids = [f"{r.get('resourceType')}/{str(r.get('id'))[:64]}" for r in strangers]
                raise WrongPatientInResponse(
                    "sent a record about a different person",
                    detail=f"{len(strangers)} {resource_type} resource(s) about another patient: "
                    + ", ".join(ids[:5]),
                    resource_ids=ids,
                )
            sent += len(found)
            kept.extend((r, page.full_urls) for r in found[: room - len(kept)])
            if len(kept) == room and (sent > room or page.has_next):
                # Full: read no further. What the source says it has counts, if it adds up.
                if page.total is not None and page.total >= sent:
                    sent = page.total
                else:
                    counted_all = not page.has_next
                break
        withheld = Withheld(beyond_limits=sent - len(kept))
        items = []
        for resource, full_urls in kept:
            item = self._judged(resource, resource_type, patient, full_urls, medications, withheld)
            if item is not None:
                items.append(item)
        return items, withheld, counted_all

    def _judged(
        self,
        resource: dict[str, Any],
        resource_type: str,
        patient: PatientIdentity,
        full_urls: dict[str, dict],
        medications: dict[str, dict],
        withheld: Withheld,
    ) -> ViewItem | None:
        """The resource as an item to show, or None, counted in `withheld` with its reason."""
        if not isinstance(resource.get("resourceType"), str):
            withheld.invalid += 1
            withheld.note_invalid("a resource with no type")
            return None
        if resource["resourceType"] != resource_type:
            withheld.other_type += 1
            return None
        return judged_item(
            resource,
            validate=validate_resource,
            read=view_item,
            patient=patient,
            full_urls=full_urls,
            medications=medications,
            withheld=withheld,
        )

    @property
    def base_url(self) -> str:
        return self.client.base_url


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
    validate_with(model, resource, refusal="invalid FHIR from the source")


def validate_with(model: Any, resource: dict[str, Any], *, refusal: str) -> None:
    """Validate a resource with a fhir.resources model (of any FHIR version), raising
    MalformedResponse(refusal) with field names and messages only: pydantic's own text would
    echo clinical values."""
    resource_type = resource.get("resourceType")
    try:
        model.model_validate(resource)
    except PydanticValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)[:3]
        where = "; ".join(".".join(map(str, e.get("loc", ()))) + f": {e['msg']}" for e in errors)
        raise MalformedResponse(refusal, detail=f"{resource_type}: {where}"[:300]) from exc
    except (ValueError, TypeError) as exc:
        raise MalformedResponse(refusal, detail=f"{resource_type}: {type(exc).__name__}") from exc


def judged_item(
    resource: dict[str, Any],
    *,
    validate: Callable[[dict[str, Any]], None],
    read: Callable[[dict[str, Any], dict[str, dict]], ViewItem],
    patient: PatientIdentity,
    full_urls: dict[str, dict],
    medications: dict[str, dict],
    withheld: Withheld,
) -> ViewItem | None:
    """One resource judged on its own, in any FHIR version (`validate` and `read` are that
    version's): the item to show, or None, counted in `withheld` with its reason."""
    try:
        validate(resource)
    except MalformedResponse as exc:
        withheld.invalid += 1
        withheld.note_invalid(exc.detail)
        return None
    if judge(resource, patient, full_urls) is not Verdict.THIS:
        withheld.no_patient += 1
        return None
    try:
        return read(resource, medications)
    # One odd resource must not hide the rest of the heading. (Anything else, the time limit
    # among them, still ends the heading or the task.)
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        # The kind of error, not its text or traceback: those can quote the resource's values.
        logger.warning(
            "could not read %s/%s: %s",
            resource.get("resourceType"),
            str(resource.get("id"))[:64],
            type(exc).__name__,
        )
        withheld.unreadable += 1
        return None
