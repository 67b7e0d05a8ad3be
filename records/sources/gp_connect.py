"""The GP Connect Access Record Structured adapter: one POST of `Patient/$gpc.getstructuredrecord`
for every heading a fetch asks, answered by an STU3 `collection` Bundle, read into the same view
items as the FHIR R4 search adapter, each marked FHIR 3.0.1.

The Bundle must be about the NHS number asked (its Patient says so; another number is a record
about a different person, and nothing of it is shown). Then each resource is judged on its own,
as the R4 path does: valid STU3 (fhir.resources' STU3 models) and about this patient is shown;
invalid, or naming no patient we can recognise, is withheld and counted with its reason. A GP
Connect error (an OperationOutcome with a Spine error code) is said in plain words.
"""

import time
from typing import Any

from fhir.resources.STU3 import get_fhir_model_class

from records.identifiers import NHS_NUMBER_SYSTEM
from records.sources import gp_connect_request as gpc
from records.sources.errors import (
    MalformedResponse,
    RecordRefused,
    SourceError,
    SourceUnavailable,
    WrongPatientInResponse,
)
from records.sources.fhir_adapter import FetchedCategory, Withheld, judged_item, validate_with
from records.sources.fhir_client import (
    FhirClient,
    retry_after_seconds,
    unavailable_when_unanswered,
)
from records.sources.limits import ResponseLimits, parse_json, read_body
from records.sources.patient_references import PatientIdentity, Verdict, judge
from records.sources.view_items import stu3_view_item

SPINE_ERROR_SYSTEM = "https://fhir.nhs.uk/STU3/CodeSystem/Spine-ErrorOrWarningCode-1"
# GP Connect's own examples name the value set instead; providers send either.
SPINE_ERROR_SYSTEMS = frozenset(
    {SPINE_ERROR_SYSTEM, "https://fhir.nhs.uk/STU3/ValueSet/Spine-ErrorOrWarningCode-1"}
)
# Each clinical area's List (its SNOMED CT code) and the heading it belongs to: the List says
# what the practice could not send of that area (its warnings, its empty reason).
AREA_OF_LIST = {
    "886921000000105": "allergies",
    "1103671000000101": "allergies",  # ended allergies
    "933361000000108": "medicines",
    "717711000000103": "problems",
    "1102181000000102": "immunisations",
    "1149501000000101": "encounters",
    "887191000000108": "test_results",
    "826501000000100": "test_results",  # uncategorised data
    "792931000000107": "referrals",
}
LIST_WARNING_EXTENSION = (
    "https://fhir.nhs.uk/STU3/StructureDefinition/Extension-CareConnect-GPC-ListWarningCode-1"
)
LIST_WARNINGS = {
    "confidential-items": "left out items it holds as confidential",
    "data-in-transit": "has not yet received part of the record from a previous practice",
    "data-awaiting-filing": "has items not yet filed in the record",
}
# Empty reasons that say the area is empty because it was not sent, not because nothing is held.
UNSENT_EMPTY_REASONS = {
    "withheld": "withheld this area",
    "unavailable": "could not send this area",
    "notstarted": "has not started this area",
}
# Headings the practice holds but the structured record does not carry: said, never empty.
NOT_CARRIED = "not available through GP Connect's structured record"
# Each Spine error code as a reader is told it (after the source's name). Codes of the
# practice's own failure are worth asking again (SourceUnavailable); the rest are not.
SPINE_ERRORS: dict[str, str] = {
    "PATIENT_NOT_FOUND": "has no record for this NHS number",
    "INVALID_NHS_NUMBER": "refused the NHS number as not valid",
    "NO_RELATIONSHIP": "says the patient is not registered with the practice",
    "ACCESS_DENIED": "refused access to this record",
    "NO_PATIENT_CONSENT": "says the patient has dissented from sharing their GP record",
    "INVALID_RESOURCE": "could not read our request",
    "INVALID_PARAMETER": "refused a parameter of our request",
    "INVALID_IDENTIFIER_SYSTEM": "refused the identifier system of our request",
    "INVALID_IDENTIFIER_VALUE": "refused the NHS number of our request",
    "BAD_REQUEST": "refused our request as malformed",
    "NOT_IMPLEMENTED": "does not offer the structured record",
    "INTERNAL_SERVER_ERROR": "failed on its side",
}
TRANSIENT_ERRORS = frozenset({"INTERNAL_SERVER_ERROR"})
# Refusals of the patient's record itself: earlier items from this practice are withdrawn too.
REFUSING_ERRORS = frozenset(
    {"PATIENT_NOT_FOUND", "NO_RELATIONSHIP", "NO_PATIENT_CONSENT", "ACCESS_DENIED"}
)
# The heading each STU3 type belongs to; the rest are context (to be referred to), not items.
CATEGORY_OF_TYPE = {
    "AllergyIntolerance": "allergies",
    "MedicationStatement": "medicines",
    "MedicationRequest": "medicines",
    "Condition": "problems",
    "Immunization": "immunisations",
    "Encounter": "encounters",
    "Observation": "test_results",
    "DiagnosticReport": "test_results",
    "ReferralRequest": "referrals",
}
CONTEXT_TYPES = frozenset(
    {"Patient", "Organization", "Practitioner", "PractitionerRole", "Medication", "List",
     "Location", "Device", "Specimen", "ProcedureRequest", "OperationOutcome"}
)  # fmt: skip


class GpConnectAdapter:
    """Reads a patient's structured record from a GP Connect provider, once per fetch: the first
    heading asked sends the request for all `categories`; the others read the same answer.

    The limits are the R4 adapter's: at most `max_per_category` items of one heading and
    `max_per_look` in all; the rest withheld and counted."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        budget_seconds: float,
        limits: ResponseLimits,
        max_per_category: int,
        max_per_look: int,
        categories: list[str],
        requester: gpc.Requester,
        provider_asid: str,
        signing_key: str = "",
    ) -> None:
        self.client = FhirClient(
            base_url, timeout=timeout, limits=limits, deadline=time.monotonic() + budget_seconds
        )
        self.max_per_category = max_per_category
        self.max_per_look = max_per_look
        self.categories = list(categories)
        self.requester = requester
        self.provider_asid = provider_asid
        self.signing_key = signing_key
        self.kept = 0
        self._answer: dict[str, FetchedCategory] | None = None
        self._failure: SourceError | None = None

    @property
    def base_url(self) -> str:
        return self.client.base_url

    def fetch_category(
        self, *, local_id: str, category: str, nhs_number: str | None = None
    ) -> FetchedCategory:
        """One heading of the structured record; the same error for every heading if it failed."""
        if category not in gpc.INCLUDE_GROUPS:
            # The practice may well hold appointments, flags, care plans or documents: the
            # heading says it could not be asked, rather than reading "None recorded".
            raise RecordRefused(NOT_CARRIED, detail=f"{category}: no include group")
        if self._answer is None and self._failure is None:
            try:
                self._answer = self._read_record(nhs_number)
            except SourceUnavailable:
                raise  # fetching retries what is left: nothing is kept of this attempt
            except SourceError as exc:
                self._failure = exc
        if self._failure is not None:
            raise self._failure
        return (self._answer or {}).get(category, FetchedCategory())

    def _read_record(self, nhs_number: str | None) -> dict[str, FetchedCategory]:
        if not nhs_number:
            raise SourceError("GP Connect asks by NHS number, and this patient has none")
        asked = [c for c in self.categories if c in gpc.INCLUDE_GROUPS]
        bundle = self._post(gpc.parameters(nhs_number, asked))
        return read_structured_record(
            bundle,
            nhs_number=nhs_number,
            categories=asked,
            max_per_category=self.max_per_category,
            max_per_look=self.max_per_look,
        )

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        url = self.client.base_url + gpc.OPERATION
        audience = self.client.base_url.rstrip("/")
        token = gpc.access_token(self.requester, audience=audience, signing_key=self.signing_key)
        timeout = self.client.timeout
        if self.client.deadline is not None:
            timeout = min(timeout, self.client.deadline - time.monotonic())
            if timeout <= 0:
                raise SourceUnavailable("timed out", detail="the source's time budget ran out")
        with unavailable_when_unanswered():
            response = self.client.session.post(
                url,
                json=body,
                headers=gpc.headers(self.requester, provider_asid=self.provider_asid, token=token),
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
        with response:
            status = response.status_code
            if status == 429:
                raise SourceUnavailable(
                    "too many requests",
                    detail=f"HTTP 429 from {url}",
                    retry_after=retry_after_seconds(response.headers.get("Retry-After")),
                )
            if status < 300:
                content = read_body(response, self.client.limits, deadline=self.client.deadline)
                answer = parse_json(content, self.client.limits, where=url)
                if not isinstance(answer, dict):
                    raise MalformedResponse("response is not a FHIR resource")
                return answer
            try:
                content = read_body(response, self.client.limits, deadline=self.client.deadline)
                outcome = parse_json(content, self.client.limits, where=url)
            except SourceError:
                outcome = None
            raise spine_error(status, outcome)


def spine_error(status: int, outcome: Any) -> SourceError:
    """The error a GP Connect provider answered, in words: by its Spine error code where the
    OperationOutcome gives one, else by the HTTP status."""
    code = spine_error_code(outcome)
    if code:
        words = SPINE_ERRORS.get(code, "refused the request")
        reason = f"GP Connect: the practice {words} ({code})"
        detail = f"HTTP {status}, Spine error {code}"
        if code in TRANSIENT_ERRORS:  # the practice failed: worth asking again
            return SourceUnavailable(reason, detail=detail)
        if code in REFUSING_ERRORS:
            return RecordRefused(reason, detail=detail)
        return SourceError(reason, detail=detail)
    if status >= 500:
        return SourceUnavailable(f"server error {status}", detail=f"HTTP {status}")
    if status in (401, 403, 404):
        # A refusal of this record we cannot read more of: what the practice sent before is
        # withdrawn too, rather than shown as if it still stood.
        return RecordRefused(f"GP Connect: the practice refused the record ({status})")
    return MalformedResponse(f"request refused ({status})", detail=f"HTTP {status}")


def spine_error_code(outcome: Any) -> str:
    """The first Spine error code in an OperationOutcome; "" if it gives none."""
    if not isinstance(outcome, dict) or outcome.get("resourceType") != "OperationOutcome":
        return ""
    for issue in outcome.get("issue") or []:
        details = issue.get("details") if isinstance(issue, dict) else None
        for coding in (details or {}).get("coding") or [] if isinstance(details, dict) else []:
            if (
                isinstance(coding, dict)
                and coding.get("system") in SPINE_ERROR_SYSTEMS
                and isinstance(coding.get("code"), str)
            ):
                # The spec's table writes "ACCESS DENIED"; its examples "ACCESS_DENIED".
                return coding["code"].strip().replace(" ", "_")[:60]
    return ""


def read_structured_record(
    bundle: dict[str, Any],
    *,
    nhs_number: str,
    categories: list[str],
    max_per_category: int,
    max_per_look: int,
) -> dict[str, FetchedCategory]:
    """Each heading asked, read from the structured record Bundle; WrongPatientInResponse if it
    is about someone else, MalformedResponse if it is not a structured record at all."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "collection":
        raise MalformedResponse(
            "response is not a GP Connect structured record",
            detail=f"resourceType={bundle.get('resourceType')!r} type={bundle.get('type')!r}",
        )
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise MalformedResponse("structured record has the wrong shape", detail="entry not a list")
    resources = [e.get("resource") for e in entries if isinstance(e, dict)]
    resources = [r for r in resources if isinstance(r, dict)]
    patient = _the_patient(resources, nhs_number)
    full_urls = {
        e["fullUrl"]: e["resource"]
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("fullUrl"), str)
        and isinstance(e.get("resource"), dict)
    }  # fmt: skip
    strangers = [
        r
        for r in resources
        if r.get("resourceType") in CATEGORY_OF_TYPE
        and judge(r, patient, full_urls) is Verdict.ANOTHER
    ]
    if strangers:
        ids = [f"{r.get('resourceType')}/{str(r.get('id'))[:64]}" for r in strangers]
        raise WrongPatientInResponse(
            "sent a record about a different person",
            detail=f"{len(strangers)} resource(s) about another patient: " + ", ".join(ids[:5]),
            resource_ids=ids,
        )
    medications = {
        f"Medication/{r.get('id')}": r for r in resources if r.get("resourceType") == "Medication"
    }
    planned = _authorisations_of_statements(resources)
    answer = {category: FetchedCategory() for category in categories}
    withheld = {category: Withheld() for category in categories}
    kept = 0
    for resource in resources:
        category = CATEGORY_OF_TYPE.get(str(resource.get("resourceType")))
        if category not in answer or _reference(resource) in planned:
            continue  # context, a heading not asked, or a statement's own authorisation
        fetched, held = answer[category], withheld[category]
        if len(fetched.items) >= max_per_category or kept >= max_per_look:
            held.beyond_limits += 1
            continue
        item = judged_item(
            resource,
            validate=validate_stu3,
            read=stu3_view_item,
            patient=patient,
            full_urls=full_urls,
            medications=medications,
            withheld=held,
        )
        if item is not None:
            fetched.items.append(item)
            kept += 1
    said = _what_the_lists_say(resources, categories)
    for category, fetched in answer.items():
        held = withheld[category]
        fetched.withheld = held.count
        words = [_withheld_words(fetched, held, max_per_category)] if held.count else []
        # A warning the practice gives makes the heading incomplete, though it gives no count.
        words += [f"the practice {warning}" for warning in said.get(category, [])]
        fetched.withheld_reason = "; ".join(words)
    return answer


def _what_the_lists_say(resources: list[dict[str, Any]], categories: list[str]) -> dict:
    """Heading -> what the practice's Lists of its areas say it did not send: GP Connect's
    list warnings (confidential items, data in transit or awaiting filing) and an empty reason
    that means "not sent", each once."""
    said: dict[str, list[str]] = {}
    for resource in resources:
        if resource.get("resourceType") != "List":
            continue
        codings = (resource.get("code") or {}).get("coding") or []
        areas = {AREA_OF_LIST.get(c.get("code")) for c in codings if isinstance(c, dict)}
        for category in areas & set(categories):
            words = said.setdefault(category, [])
            for extension in resource.get("extension") or []:
                if isinstance(extension, dict) and extension.get("url") == LIST_WARNING_EXTENSION:
                    warning = LIST_WARNINGS.get(str(extension.get("valueCode")))
                    if warning and warning not in words:
                        words.append(warning)
            empty = (resource.get("emptyReason") or {}).get("coding") or []
            for coding in empty:
                reason = UNSENT_EMPTY_REASONS.get(str(coding.get("code")))
                if reason and reason not in words:
                    words.append(reason)
    return {category: words for category, words in said.items() if words}


def _the_patient(resources: list[dict[str, Any]], nhs_number: str) -> PatientIdentity:
    """The Bundle's Patient, which must carry the NHS number asked; its id is how the other
    resources name it."""
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    if not patients:
        raise MalformedResponse("structured record has no Patient")
    for patient in patients:
        numbers = [
            str(i.get("value", "")).replace(" ", "")
            for i in patient.get("identifier") or []
            if isinstance(i, dict) and i.get("system") == NHS_NUMBER_SYSTEM
        ]
        if numbers and any(number != nhs_number for number in numbers):
            raise WrongPatientInResponse(
                "sent a record about a different person",
                detail="the structured record's Patient has another NHS number",
                resource_ids=[f"Patient/{str(patient.get('id'))[:64]}"],
            )
        if not numbers:
            raise MalformedResponse("structured record's Patient has no NHS number")
    if len(patients) > 1:
        raise MalformedResponse("structured record has more than one Patient")
    local_id = patients[0].get("id")
    if not isinstance(local_id, str) or not local_id:
        raise MalformedResponse("structured record's Patient has no id")
    return PatientIdentity(local_id, (), nhs_number)


def _reference(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _authorisations_of_statements(resources: list[dict[str, Any]]) -> set[str]:
    """The MedicationRequests that a MedicationStatement is based on (intent "plan"), and the
    prescription issues based on those (intent "order"): GP Connect sends each medicine as a
    statement, its authorisation and each issue of it; the statement is the one item."""
    planned = set()
    for resource in resources:
        if resource.get("resourceType") == "MedicationStatement":
            planned |= _based_on(resource)
    for resource in resources:
        if resource.get("resourceType") == "MedicationRequest" and _based_on(resource) & planned:
            planned.add(_reference(resource))
    return planned


def _based_on(resource: dict[str, Any]) -> set[str]:
    """The MedicationRequests a resource names in `basedOn`."""
    targets = set()
    for based_on in resource.get("basedOn") or []:
        target = based_on.get("reference") if isinstance(based_on, dict) else None
        if isinstance(target, str) and target.startswith("MedicationRequest/"):
            targets.add(target)
    return targets


def validate_stu3(resource: dict[str, Any]) -> None:
    """STU3 validation with fhir.resources' STU3 models; field names and messages only."""
    resource_type = resource.get("resourceType")
    try:
        model = get_fhir_model_class(str(resource_type))
    except (ValueError, KeyError) as exc:
        detail = f"unknown type {str(resource_type)[:40]}"
        raise MalformedResponse("invalid FHIR STU3", detail=detail) from exc
    validate_with(model, resource, refusal="invalid FHIR STU3")


def _withheld_words(fetched: FetchedCategory, withheld: Withheld, max_per_category: int) -> str:
    judged = withheld.judged_words()
    if not withheld.beyond_limits:
        return f"sent {judged}"
    sent = len(fetched.items) + withheld.count
    words = f"sent {sent:,} resources; {len(fetched.items):,} are shown"
    if len(fetched.items) >= max_per_category:
        words = f"sent {sent:,} resources; at most {max_per_category:,} are shown"
    return f"{words}; {judged}" if judged else words
