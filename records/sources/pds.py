"""The PDS adapter: read a person by NHS number and search by demographics, as the Personal
Demographics Service's FHIR R4 API answers (NHSDigital/personal-demographics-service-api).

PDS is the authority on who holds an NHS number: a read of a superseded number answers with the
person under their current one (the `id` differs from the number asked), and a restricted person
comes without address, telecom and GP practice. Answers are read within the same limits as any
source's (records.sources.limits), and errors are PDS's own codes turned into plain reasons.
"""

import datetime
import uuid
from dataclasses import dataclass

import requests
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from records.confidentiality import Confidentiality, confidentiality_of, is_restricted
from records.identifiers import ODS_SYSTEM
from records.nhs_numbers import is_valid_nhs_number
from records.sources.errors import (
    InvalidResource,
    MalformedResponse,
    SourceError,
    SourceUnavailable,
)
from records.sources.fhir_client import FhirClient
from records.sources.limits import ResponseLimits, parse_json, read_body
from records.sources.patients import parse_patient

# The error codes PDS names its OperationOutcomes with (details.coding.code).
SPINE_ERROR_SYSTEMS = (
    "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode",
    "https://fhir.hl7.org.uk/CodeSystem/Spine-ErrorOrWarningCode",
)
# PDS names a GP practice by ODS code under either system.
_GP_PRACTICE_SYSTEMS = (ODS_SYSTEM, "https://digital.nhs.uk/services/organisation-data-service")
_SEXES = ("male", "female", "other", "unknown")


class PdsError(SourceError):
    """PDS answered, and said no. `code` is its error code (INVALID_RESOURCE_ID, ...)."""

    def __init__(self, reason: str, *, code: str = "", detail: str = "") -> None:
        super().__init__(reason, detail=detail)
        self.code = code


class NhsNumberNotKnown(PdsError):
    """PDS holds nobody under this NHS number (RESOURCE_NOT_FOUND), or the record was
    invalidated and superseded by nobody (INVALIDATED_RESOURCE)."""


class InvalidNhsNumber(PdsError):
    """PDS refused the number itself (INVALID_RESOURCE_ID): not ten digits or a bad check digit."""


class InvalidSearch(PdsError):
    """PDS refused the search's parameters (INVALID_SEARCH_DATA, MISSING_VALUE, INVALID_VALUE,
    UNSUPPORTED_SERVICE, ADDITIONAL_PROPERTIES): say what to change, never retry as it is."""


class TooManyMatches(PdsError):
    """More people match than PDS will return (TOO_MANY_MATCHES): the search must be narrowed."""


class PdsRefused(PdsError):
    """PDS refused us (ACCESS_DENIED, or an answer we do not understand): its configuration or
    credentials need a person."""


@dataclass(frozen=True)
class PdsPatient:
    """A person as PDS holds them. `nhs_number` is the current number; `superseded` names the
    number asked for when PDS answered under another one. A restricted person's contact
    details are always empty here, whatever PDS sent."""

    nhs_number: str
    superseded: str
    confidentiality: Confidentiality
    prefix: str
    given_names: str
    family_name: str
    birth_date: datetime.date | None
    sex: str
    address_lines: str
    city: str
    postcode: str
    phone: str
    email: str
    gp_practice_ods_code: str
    date_of_death: datetime.date | None

    @property
    def restricted(self) -> bool:
        return is_restricted(self.confidentiality)


@dataclass(frozen=True)
class PdsMatch:
    """One person a search found, with PDS's score (1.0: every parameter matched exactly)."""

    score: float
    patient: PdsPatient


class _PdsHeaders(requests.auth.AuthBase):
    """Every request carries a fresh X-Request-ID (a UUID, which PDS requires), the client's
    X-Correlation-ID and the bearer token, if there is one."""

    def __init__(self, access_token: str, correlation_id: str) -> None:
        self.access_token, self.correlation_id = access_token, correlation_id

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["X-Request-ID"] = str(uuid.uuid4())
        request.headers["X-Correlation-ID"] = self.correlation_id
        if self.access_token:
            request.headers["Authorization"] = f"Bearer {self.access_token}"
        return request


class PdsClient(FhirClient):
    """Reads and searches PDS with the FHIR client's timeouts, deadline and limits."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        limits: ResponseLimits,
        access_token: str = "",
        deadline: float | None = None,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(
            base_url, timeout=timeout, limits=limits, deadline=deadline, session=session
        )
        self.correlation_id = str(uuid.uuid4())
        self.session.auth = _PdsHeaders(access_token, self.correlation_id)

    def read(self, nhs_number: str) -> PdsPatient:
        """The person PDS holds under `nhs_number` (or under the number that superseded it)."""
        if not nhs_number.isdigit() or len(nhs_number) != 10:
            raise InvalidNhsNumber("not an NHS number", code="INVALID_RESOURCE_ID")
        resource = self.get_json(f"{self.base_url}Patient/{nhs_number}")
        return read_pds_patient(resource, asked=nhs_number)

    def search(
        self,
        *,
        family: str,
        birth_date: datetime.date,
        given: str = "",
        gender: str = "",
        postcode: str = "",
        max_results: int | None = None,
    ) -> list[PdsMatch]:
        """The people matching, best first; TooManyMatches if PDS will not say which."""
        params = {"family": family, "birthdate": f"eq{birth_date.isoformat()}"}
        if given:
            params["given"] = given
        if gender:
            params["gender"] = gender
        if postcode:
            params["address-postcode"] = postcode
        if max_results is not None:
            params["_max-results"] = str(max_results)
        body = self.get_json(f"{self.base_url}Patient", params=params)
        if body.get("resourceType") == "OperationOutcome":
            raise _error_of(200, body)
        if body.get("resourceType") != "Bundle" or body.get("type") != "searchset":
            raise MalformedResponse(
                "PDS's answer is not a search result",
                detail=f"resourceType={body.get('resourceType')!r} type={body.get('type')!r}",
            )
        entries = body.get("entry") or []
        if not isinstance(entries, list):
            raise MalformedResponse("PDS's search result has the wrong shape", detail="entry")
        matches = []
        for entry in entries:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            search = entry.get("search") if isinstance(entry, dict) else None
            score = search.get("score") if isinstance(search, dict) else None
            if not isinstance(resource, dict) or not isinstance(score, int | float):
                raise MalformedResponse("PDS's search result has an entry without a score")
            matches.append(PdsMatch(float(score), read_pds_patient(resource)))
        return sorted(matches, key=lambda match: -match.score)

    def _read(self, response: requests.Response, *, where: str) -> dict:
        # PDS says why it refused in an OperationOutcome: read it (within the limits) and say so.
        status = response.status_code
        if status == 408:  # UNABLE_TO_CALL_SERVICE: PDS's own back end did not answer in time
            raise SourceUnavailable("PDS timed out", detail=f"HTTP 408 from {where}")
        if 400 <= status < 500 and status != 429:
            try:
                body = parse_json(read_body(response, self.limits, where=where), self.limits)
            except MalformedResponse:
                body = {}
            raise _error_of(status, body if isinstance(body, dict) else {})
        return super()._read(response, where=where)


def read_pds_patient(resource: dict, *, asked: str = "") -> PdsPatient:
    """Validate a Patient PDS sent (fhir.resources R4B) and read the demographics the register
    keeps; `asked` is the number read, to see whether PDS answered under another one."""
    try:
        identity = parse_patient(resource)
    except InvalidResource as exc:
        raise MalformedResponse(f"PDS sent an {exc.reason}", detail=exc.detail) from exc
    number = identity.local_id
    if not is_valid_nhs_number(number) or identity.nhs_number not in (None, number):
        raise MalformedResponse("PDS sent a Patient whose id is not its NHS number", detail=number)
    confidentiality = confidentiality_of(resource)
    contact = {} if is_restricted(confidentiality) else _contact_details(resource)
    prefix = ""
    for name in resource.get("name") or []:
        if name.get("use") in (None, "usual", "official") and name.get("prefix"):
            prefix = name["prefix"][0][:20]
            break
    sex = resource.get("gender")
    return PdsPatient(
        nhs_number=number,
        superseded=asked if asked and asked != number else "",
        confidentiality=confidentiality,
        prefix=prefix,
        given_names=identity.given_names,
        family_name=identity.family_name,
        birth_date=identity.birth_date,
        sex=sex if sex in _SEXES else "unknown",
        address_lines=contact.get("address_lines", ""),
        city=contact.get("city", ""),
        postcode=contact.get("postcode", ""),
        phone=contact.get("phone", ""),
        email=contact.get("email", ""),
        gp_practice_ods_code=contact.get("gp_practice_ods_code", ""),
        date_of_death=_date_of(resource.get("deceasedDateTime")),
    )


def _contact_details(resource: dict) -> dict[str, str]:
    """The home address, first phone and email, and GP practice of an (already validated)
    Patient, cut to the register's field lengths."""
    details: dict[str, str] = {}
    addresses = resource.get("address") or []
    home = next((a for a in addresses if a.get("use") in (None, "home")), None)
    if home is not None:
        details["address_lines"] = "\n".join(home.get("line") or [])[:1000]
        details["city"] = (home.get("city") or "")[:100]
        postcode = (home.get("postalCode") or "").strip().upper()
        details["postcode"] = postcode if len(postcode) <= 8 else ""
    for point in resource.get("telecom") or []:
        value = (point.get("value") or "").strip()
        if point.get("system") == "phone" and "phone" not in details:
            details["phone"] = value[:30]
        elif point.get("system") == "email" and "email" not in details and _is_email(value):
            details["email"] = value
    for practice in resource.get("generalPractitioner") or []:
        identifier = practice.get("identifier") or {}
        if identifier.get("system") in _GP_PRACTICE_SYSTEMS and identifier.get("value"):
            details["gp_practice_ods_code"] = identifier["value"][:10]
            break
    return details


def _is_email(value: str) -> bool:
    try:
        validate_email(value)
    except ValidationError:
        return False
    return True


def _date_of(value: object) -> datetime.date | None:
    if isinstance(value, str) and len(value) >= 10:
        try:
            return datetime.date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def _error_of(status: int, outcome: dict) -> PdsError:
    """PDS's OperationOutcome as the error it means, with a reason a person can act on."""
    code, diagnostics = "", ""
    issues = outcome.get("issue") if outcome.get("resourceType") == "OperationOutcome" else None
    for issue in issues if isinstance(issues, list) else []:
        if not isinstance(issue, dict):
            continue
        diagnostics = str(issue.get("diagnostics") or "")[:200]
        codings = (issue.get("details") or {}).get("coding") or []
        for coding in codings if isinstance(codings, list) else []:
            if isinstance(coding, dict) and coding.get("system") in SPINE_ERROR_SYSTEMS:
                code = str(coding.get("code") or "")[:40]
        if code:
            break
    detail = f"HTTP {status} {code} {diagnostics}".strip()
    if code == "TOO_MANY_MATCHES":
        return TooManyMatches("too many people match; narrow the search", code=code, detail=detail)
    if code in ("RESOURCE_NOT_FOUND", "INVALIDATED_RESOURCE") or (status == 404 and not code):
        return NhsNumberNotKnown("PDS does not know this NHS number", code=code, detail=detail)
    if code == "INVALID_RESOURCE_ID":
        return InvalidNhsNumber("PDS says this is not a valid NHS number", code=code, detail=detail)
    if code in (
        "INVALID_SEARCH_DATA",
        "MISSING_VALUE",
        "INVALID_VALUE",
        "UNSUPPORTED_SERVICE",
        "ADDITIONAL_PROPERTIES",
    ):
        return InvalidSearch(f"PDS refused the request ({code})", code=code, detail=detail)
    if code == "ACCESS_DENIED" or status in (401, 403):
        return PdsRefused("PDS refused our credentials (ACCESS_DENIED)", code=code, detail=detail)
    return PdsRefused(f"PDS refused the request ({code or status})", code=code, detail=detail)
