"""A simulated PDS (Personal Demographics Service) FHIR R4 API for the synthetic population: a real
HTTP server on loopback answering `GET Patient/<NHS number>` and `GET Patient?family=...` as the
published API does (NHSDigital/personal-demographics-service-api), errors included.

Some people are restricted (`meta.security` R, sent without address, telecom and GP practice, as
PDS sends them) and some have a superseded NHS number: reading the old number answers with the
person under the current one, and the social care source still states the old one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import socket
import threading
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs

from nhs_number import is_valid

from demo.pds_people import superseded_numbers
from demo.population import Person, Population, generate, restricted_people
from demo.sources import (
    Behaviour,
    LoopbackServer,
    _corrupt,
    _DropConnection,
    serve_until_signalled,
)
from records.identifiers import NHS_NUMBER_SYSTEM

logger = logging.getLogger(__name__)

BASE_PATH = "/personal-demographics/FHIR/R4"

ODS_SYSTEM = "https://fhir.nhs.uk/Id/ods-organization-code"
CONFIDENTIALITY_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
SPINE_ERROR_SYSTEM = "https://fhir.nhs.uk/R4/CodeSystem/Spine-ErrorOrWarningCode"
VERIFICATION_EXTENSION = (
    "https://fhir.nhs.uk/R4/StructureDefinition/Extension-UKCore-NHSNumberVerificationStatus"
)
MAX_RESULTS = 50
_SEARCH_PARAMETERS = frozenset(
    {
        "family",
        "given",
        "gender",
        "birthdate",
        "death-date",
        "address-postcode",
        "address-postalcode",
        "general-practitioner",
        "email",
        "phone",
        "_fuzzy-match",
        "_exact-match",
        "_history",
        "_max-results",
    }
)
_DATE = re.compile(r"^(eq|ge|le|gt|lt)?(\d{4}-\d{2}-\d{2})$")
_STATUS_TEXT = {
    200: "200 OK",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
}
_FHIR_JSON = "application/fhir+json; charset=utf-8"
_DISPLAYS = {
    "INVALID_RESOURCE_ID": "Resource Id is invalid",
    "RESOURCE_NOT_FOUND": "Resource not found",
    "INVALID_SEARCH_DATA": "Search data is invalid",
    "INVALID_VALUE": "Provided value is invalid",
    "MISSING_VALUE": "Required value is missing",
    "UNSUPPORTED_SERVICE": "Unsupported Service",
    "ADDITIONAL_PROPERTIES": "Additional properties were provided",
    "ACCESS_DENIED": "Access Denied - Unauthorised",
    "TOO_MANY_MATCHES": "Too Many Matches",
    "TOO_MANY_REQUESTS": "You have exceeded your application's rate limit",
    "SERVICE_ERROR": "Service error",
}


def pds_patient(person: Person, *, restricted: bool) -> dict[str, Any]:
    """The Patient as PDS sends it: its id is the NHS number; a restricted person comes labelled
    R and without address, telecom, contact and generalPractitioner."""
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": person.nhs_number,
        "identifier": [
            {
                "system": NHS_NUMBER_SYSTEM,
                "value": person.nhs_number,
                "extension": [
                    {
                        "url": VERIFICATION_EXTENSION,
                        "valueCodeableConcept": {
                            "coding": [
                                {
                                    "system": "https://fhir.nhs.uk/R4/CodeSystem/"
                                    "UKCore-NHSNumberVerificationStatus",
                                    "version": "1.0.0",
                                    "code": "01",
                                    "display": "Number present and verified",
                                }
                            ]
                        },
                    }
                ],
            }
        ],
        "meta": {
            "versionId": "2",
            "security": [
                {
                    "system": CONFIDENTIALITY_SYSTEM,
                    "code": "R" if restricted else "U",
                    "display": "restricted" if restricted else "unrestricted",
                }
            ],
        },
        "name": [
            {
                "id": "1",
                "use": "usual",
                "period": {"start": person.birth_date.isoformat()},
                "given": list(person.given_names),
                "family": person.family_name,
                "prefix": [person.prefix],
            }
        ],
        "gender": person.sex,
        "birthDate": person.birth_date.isoformat(),
    }
    if person.deceased_date:
        resource["deceasedDateTime"] = f"{person.deceased_date.isoformat()}T00:00:00+00:00"
    if restricted:
        return resource
    resource["address"] = [
        {
            "id": "1",
            "use": "home",
            "line": list(person.address_lines),
            "city": person.city,
            "postalCode": person.postcode,
        }
    ]
    telecom = [
        {
            "id": "1",
            "system": "phone",
            "value": person.phone,
            "use": "mobile" if person.phone.startswith("07") else "home",
        }
    ]
    if person.email:
        telecom.append({"id": "2", "system": "email", "value": person.email, "use": "home"})
    resource["telecom"] = telecom
    resource["generalPractitioner"] = [
        {
            "id": "1",
            "type": "Organization",
            "identifier": {"system": ODS_SYSTEM, "value": person.gp_practice.ods_code},
        }
    ]
    return resource


def outcome(code: str, diagnostics: str, *, issue: str, severity: str = "error") -> dict:
    """PDS's OperationOutcome: the FHIR issue type and the Spine error code."""
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": issue,
                "details": {
                    "coding": [
                        {
                            "system": SPINE_ERROR_SYSTEM,
                            "version": "1",
                            "code": code,
                            "display": _DISPLAYS.get(code, code),
                        }
                    ]
                },
                "diagnostics": diagnostics,
            }
        ],
    }


class _Answer(Exception):
    def __init__(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or []


class SimulatedPds(LoopbackServer):
    """PDS for `population`, served from a background thread. `access_token`: the bearer token
    every request must carry ("" accepts any); `behaviour` misbehaves as a source's does."""

    def __init__(
        self,
        population: Population,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_token: str = "",
    ) -> None:
        self.population = population
        self.host, self.port, self.access_token = host, port, access_token
        self.restricted = {person.nhs_number for person in restricted_people(population)}
        self.superseded = {old: new for new, old in superseded_numbers(population).items()}
        self.behaviour = Behaviour()
        self.requests: Counter[str] = Counter()
        self.request_ids: list[str] = []
        self._fired = 0
        self._lock = threading.Lock()
        self._serve_init()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the simulated PDS is not started")
        return f"http://{self.host}:{self._server.server_port}{BASE_PATH}"

    def _thread_name(self) -> str:
        return "demo-pds"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """The WSGI application."""
        path = environ.get("PATH_INFO", "")
        request_id = environ.get("HTTP_X_REQUEST_ID", "")
        headers = [("X-Request-ID", request_id)] if request_id else []
        if environ.get("HTTP_X_CORRELATION_ID"):
            headers.append(("X-Correlation-ID", environ["HTTP_X_CORRELATION_ID"]))
        try:
            if path.startswith("/_sim/"):
                status, body = self._control(environ)
            else:
                status, body = 200, self._answer(environ, path, request_id)
        except _Answer as answer:
            status, body, headers = answer.status, answer.body, headers + answer.headers
        except _DropConnection:
            with contextlib.suppress(OSError):
                environ["demo.socket"].shutdown(socket.SHUT_RDWR)
            start_response("500 Internal Server Error", [])
            return []
        payload = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        if status == 200 and isinstance(body, dict) and body.get("resourceType") == "Patient":
            headers.append(("ETag", f'W/"{body["meta"]["versionId"]}"'))
        logger.info("pds %s %s %d", environ["REQUEST_METHOD"], path, status)
        start_response(
            _STATUS_TEXT[status],
            [("Content-Type", _FHIR_JSON), ("Content-Length", str(len(payload))), *headers],
        )
        return [payload]

    def _control(self, environ: dict[str, Any]) -> tuple[int, Any]:
        method, path = environ["REQUEST_METHOD"], environ["PATH_INFO"]
        if path == "/_sim/requests":
            return 200, {"count": sum(self.requests.values()), "by_kind": dict(self.requests)}
        if path != "/_sim/behaviour":
            return 404, {"error": f"no control endpoint {path}"}
        if method == "PUT":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            try:
                data = json.loads(environ["wsgi.input"].read(length))
                self.behaviour, self._fired = Behaviour.from_json(data), 0
            except (ValueError, TypeError) as error:
                return 400, {"error": str(error)}
        elif method == "DELETE":
            self.behaviour, self._fired = Behaviour(), 0
        return 200, self.behaviour.to_json()

    def _answer(self, environ: dict[str, Any], path: str, request_id: str) -> dict[str, Any]:
        if not path.startswith(BASE_PATH + "/"):
            raise _Answer(
                404, outcome("RESOURCE_NOT_FOUND", f"Unknown path {path}", issue="not-found")
            )
        parts = [part for part in path[len(BASE_PATH) :].split("/") if part]
        if parts == ["metadata"]:
            return {
                "resourceType": "CapabilityStatement",
                "status": "active",
                "kind": "instance",
                "fhirVersion": "4.0.1",
                "format": ["application/fhir+json"],
            }
        if environ["REQUEST_METHOD"] != "GET":
            raise _Answer(405, outcome("UNSUPPORTED_SERVICE", "Read only", issue="not-supported"))
        self._check_headers(environ, request_id)
        kind = "read" if len(parts) == 2 else "search"
        with self._lock:
            self.requests[kind] += 1
            self.request_ids.append(request_id)
        self._misbehave()
        if parts[:1] != ["Patient"] or len(parts) > 2:
            raise _Answer(
                404, outcome("RESOURCE_NOT_FOUND", f"Unknown path {path}", issue="not-found")
            )
        body = self._read(parts[1]) if len(parts) == 2 else self._search(environ)
        if self.behaviour.fault == "malformed_json" and self._fire():
            raise _Answer(200, json.dumps(body)[:40].encode())
        if self.behaviour.fault == "invalid_fhir" and self._fire():
            body = _corrupt(body)
        return body

    def _check_headers(self, environ: dict[str, Any], request_id: str) -> None:
        if not request_id:
            raise _Answer(
                400,
                outcome(
                    "MISSING_VALUE",
                    "Invalid request with error - "
                    "X-Request-ID header must be supplied to access this resource",
                    issue="required",
                ),
            )
        try:
            uuid.UUID(request_id)
        except ValueError:
            raise _Answer(
                400,
                outcome(
                    "INVALID_VALUE",
                    f"Invalid value - '{request_id}' in header 'X-Request-ID'",
                    issue="value",
                ),
            ) from None
        if self.access_token and environ.get("HTTP_AUTHORIZATION") != f"Bearer {self.access_token}":
            raise _Answer(
                401,
                outcome(
                    "ACCESS_DENIED", "Access token missing, invalid or expired", issue="forbidden"
                ),
            )

    def _fire(self) -> bool:
        with self._lock:
            if self.behaviour.times is not None and self._fired >= self.behaviour.times:
                return False
            self._fired += 1
            return True

    def _misbehave(self) -> None:
        behaviour = self.behaviour
        if behaviour.latency_ms:
            self._stopping.wait(behaviour.latency_ms / 1000)
        fault = behaviour.fault
        if fault not in ("timeout", "error_500", "rate_limit", "connection_drop"):
            return
        if not self._fire():
            return
        if fault == "timeout":
            self._stopping.wait(behaviour.hang_seconds)
        elif fault == "error_500":
            raise _Answer(500, outcome("SERVICE_ERROR", "Simulated failure", issue="exception"))
        elif fault == "rate_limit":
            raise _Answer(
                429,
                outcome("TOO_MANY_REQUESTS", "Simulated rate limit", issue="throttled"),
                [("Retry-After", str(behaviour.retry_after))],
            )
        else:
            raise _DropConnection

    def _read(self, number: str) -> dict[str, Any]:
        if not (number.isdigit() and len(number) == 10 and is_valid(number)):
            raise _Answer(
                400, outcome("INVALID_RESOURCE_ID", "Resource Id is invalid", issue="value")
            )
        current = self.superseded.get(number, number)
        person = self.population.person_by_nhs_number(current)
        if person is None:
            raise _Answer(
                404, outcome("RESOURCE_NOT_FOUND", "Resource not found", issue="not-found")
            )
        return pds_patient(person, restricted=current in self.restricted)

    def _search(self, environ: dict[str, Any]) -> dict[str, Any]:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        unknown = sorted(set(query) - _SEARCH_PARAMETERS)
        if unknown:
            raise _Answer(
                400,
                outcome(
                    "ADDITIONAL_PROPERTIES",
                    f"Invalid request with error - additional properties {unknown}",
                    issue="structure",
                ),
            )
        if not query:
            raise _Answer(
                400, outcome("UNSUPPORTED_SERVICE", "Unsupported Service", issue="processing")
            )
        if not (query.get("family") and query.get("birthdate")) and not query.get("given"):
            raise _Answer(
                400,
                outcome(
                    "INVALID_SEARCH_DATA",
                    "Not enough search parameters were provided to be able to make a search",
                    issue="value",
                ),
            )
        if not query.get("birthdate"):
            raise _Answer(
                400,
                outcome(
                    "INVALID_SEARCH_DATA",
                    "Missing value - 'birth_date/birth_date_range_start/birth_date_range_end'",
                    issue="value",
                ),
            )
        ranges = [_date_range(value) for value in query["birthdate"]]
        gender = (query.get("gender") or [""])[-1]
        if gender and gender not in ("male", "female", "other", "unknown"):
            raise _Answer(
                400,
                outcome(
                    "INVALID_VALUE", f"Invalid value - '{gender}' in field 'gender'", issue="value"
                ),
            )
        limit = _max_results((query.get("_max-results") or [str(MAX_RESULTS)])[-1])
        exact = (query.get("_exact-match") or ["false"])[-1] == "true"
        postcode = (query.get("address-postcode") or query.get("address-postalcode") or [""])[-1]
        practice = (query.get("general-practitioner") or [""])[-1]
        matches = []
        for person in self.population.people:
            if person.nhs_number in self.restricted and (postcode or practice):
                continue  # PDS never finds a restricted person by where they live
            score = _score(person, query, ranges, gender, postcode, practice)
            if score is not None and (score == 1.0 or not exact):
                matches.append((score, person))
        if len(matches) > limit:
            return outcome(
                "TOO_MANY_MATCHES",
                "Too Many Matches",
                issue="multiple-matches",
                severity="information",
            )
        matches.sort(key=lambda match: (-match[0], match[1].index))
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "total": len(matches),
            "entry": [
                {
                    "fullUrl": f"{self.base_url}/Patient/{person.nhs_number}",
                    "search": {"score": score},
                    "resource": pds_patient(
                        person, restricted=person.nhs_number in self.restricted
                    ),
                }
                for score, person in matches
            ],
        }


def _date_range(value: str) -> tuple[str, date]:
    found = _DATE.match(value)
    try:
        if found is None:
            raise ValueError(value)
        return found.group(1) or "eq", date.fromisoformat(found.group(2))
    except ValueError:
        raise _Answer(
            400,
            outcome(
                "INVALID_SEARCH_DATA",
                f"Invalid value - '{value}' in field 'birthdate'",
                issue="value",
            ),
        ) from None


def _max_results(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= MAX_RESULTS:
        raise _Answer(
            400,
            outcome(
                "INVALID_VALUE", f"Invalid value - '{value}' in field '_max-results'", issue="value"
            ),
        )
    return int(value)


def _name_matches(pattern: str, names: tuple[str, ...]) -> float | None:
    """1.0 for the name itself, 0.9 for a wildcard's match (`Sm*`), None for no match."""
    pattern = pattern.strip().lower()
    for name in names:
        if pattern.endswith("*") and name.lower().startswith(pattern[:-1]):
            return 0.9
        if name.lower() == pattern:
            return 1.0
    return None


def _score(person: Person, query: dict, ranges, gender, postcode, practice) -> float | None:
    """How well `person` matches (PDS's score: 1.0 exact), or None if they do not."""
    scores = []
    for family in query.get("family", []):
        scores.append(_name_matches(family, (person.family_name,)))
    for given in query.get("given", []):
        scores.append(_name_matches(given, person.given_names))
    for prefix, day in ranges:
        born = person.birth_date
        ok = {
            "eq": born == day,
            "ge": born >= day,
            "le": born <= day,
            "gt": born > day,
            "lt": born < day,
        }[prefix]
        scores.append(1.0 if ok else None)
    if gender:
        scores.append(1.0 if person.sex == gender else None)
    if postcode:
        scores.append(_name_matches(postcode.replace(" ", ""), (person.postcode.replace(" ", ""),)))
    if practice:
        scores.append(1.0 if person.gp_practice.ods_code == practice else None)
    if any(score is None for score in scores):
        return None
    return min(scores)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8106)
    parser.add_argument("--access-token", default="")
    parser.add_argument("--log-level", default="INFO")
    options = parser.parse_args(argv)
    logging.basicConfig(level=options.log_level, format="%(asctime)s %(name)s %(message)s")
    population = generate(seed=options.seed, patients=options.patients)
    pds = SimulatedPds(
        population, host=options.host, port=options.port, access_token=options.access_token
    ).start()
    print(f"pds Personal Demographics Service (simulated) {pds.base_url}", flush=True)
    serve_until_signalled(pds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
