"""What a GP Connect Access Record Structured request carries: the Parameters body (the NHS
number and one include group per heading asked), the Spine headers, and the JWT that tells the
GP practice who asks and why, for its own audit (GP Connect's "JWT guidance": unsigned, alg
none, unless a signing key is set).
"""

import base64
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

from records.identifiers import NHS_NUMBER_SYSTEM, ODS_SYSTEM

INTERACTION_ID = "urn:nhs:names:services:gpconnect:fhir:operation:gpc.getstructuredrecord-1"
OPERATION = "Patient/$gpc.getstructuredrecord"
SDS_USER_SYSTEM = "https://fhir.nhs.uk/Id/sds-user-id"
SDS_ROLE_SYSTEM = "https://fhir.nhs.uk/Id/sds-role-profile-id"
# The record's own user names, beside the SDS ids GP Connect allows as "UNK" until CIS2 gives them.
LOCAL_USER_SYSTEM = "https://shared-care-record.example/Id/user"
DEVICE_SYSTEM = "https://shared-care-record.example/Id/device-identifier"
TOKEN_LIFETIME_SECONDS = 300  # GP Connect: exp is exactly five minutes after iat

# The include group that carries each heading (records.categories names). Headings GP Connect's
# structured record does not carry (appointments, care plans, flags, documents) have none.
INCLUDE_GROUPS: dict[str, tuple[dict[str, Any], ...]] = {
    "allergies": (
        {
            "name": "includeAllergies",
            "part": [{"name": "includeResolvedAllergies", "valueBoolean": True}],
        },
    ),
    "medicines": (
        {
            "name": "includeMedication",
            "part": [{"name": "includePrescriptionIssues", "valueBoolean": True}],
        },
    ),
    "problems": ({"name": "includeProblems"},),
    "immunisations": ({"name": "includeImmunisations"},),
    "encounters": ({"name": "includeConsultations"},),
    # Results: investigations (reports with their tests) and the observations GP Connect files
    # under no other area (blood pressures, weights), its "uncategorised data".
    "test_results": ({"name": "includeInvestigations"}, {"name": "includeUncategorisedData"}),
    "referrals": ({"name": "includeReferrals"},),
}


@dataclass(frozen=True)
class Requester:
    """Who asks, as the JWT and the Spine headers name it: the record's own ASID, organisation
    and the SDS user id of the practitioner on whose behalf it asks."""

    asid: str
    organisation_ods: str
    organisation_name: str
    practitioner_sds_id: str = "UNK"
    practitioner_role_id: str = "UNK"
    practitioner_family: str = "Shared care record"
    practitioner_given: str = ""
    practitioner_local_id: str = ""  # the professional's user name here, when one asks
    issuer: str = "https://shared-care-record.example/"


def parameters(nhs_number: str, categories: list[str]) -> dict[str, Any]:
    """The Parameters body: the NHS number, then the include group of each heading asked
    (in GP Connect's order, each once)."""
    wanted = [group for c in INCLUDE_GROUPS if c in categories for group in INCLUDE_GROUPS[c]]
    return {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "patientNHSNumber",
                "valueIdentifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs_number},
            },
            *wanted,
        ],
    }


def headers(requester: Requester, *, provider_asid: str, token: str) -> dict[str, str]:
    """The Spine headers and the bearer token of one request (a new trace id each time)."""
    return {
        "Ssp-TraceID": str(uuid.uuid4()),
        "Ssp-From": requester.asid,
        "Ssp-To": provider_asid,
        "Ssp-InteractionID": INTERACTION_ID,
        "Authorization": f"Bearer {token}",
        "Content-Type": "application/fhir+json;charset=utf-8",
    }


def claims(requester: Requester, *, audience: str, now: float | None = None) -> dict[str, Any]:
    """The JWT claims GP Connect asks for: direct care, read only, who and from where."""
    issued = int(now if now is not None else time.time())
    practitioner_id = requester.practitioner_local_id or "1"
    return {
        "iss": requester.issuer,
        "sub": practitioner_id,
        "aud": audience,
        "exp": issued + TOKEN_LIFETIME_SECONDS,
        "iat": issued,
        "reason_for_request": "directcare",
        "requested_scope": "patient/*.read",
        "requesting_device": {
            "resourceType": "Device",
            "identifier": [{"system": DEVICE_SYSTEM, "value": "lcr-fetcher"}],
            "model": "lcr-shared-care-record",
            "version": "1.0",
        },
        "requesting_organization": {
            "resourceType": "Organization",
            "identifier": [{"system": ODS_SYSTEM, "value": requester.organisation_ods}],
            "name": requester.organisation_name,
        },
        "requesting_practitioner": {
            "resourceType": "Practitioner",
            "id": practitioner_id,
            "identifier": [
                {"system": SDS_USER_SYSTEM, "value": requester.practitioner_sds_id},
                {"system": SDS_ROLE_SYSTEM, "value": requester.practitioner_role_id},
                *(
                    [{"system": LOCAL_USER_SYSTEM, "value": requester.practitioner_local_id}]
                    if requester.practitioner_local_id
                    else []
                ),
            ],
            "name": [
                {"family": requester.practitioner_family}
                | (
                    {"given": [requester.practitioner_given]}
                    if requester.practitioner_given
                    else {}
                )
            ],
        },
    }


def access_token(
    requester: Requester, *, audience: str, signing_key: str = "", now: float | None = None
) -> str:
    """The bearer JWT: unsigned (`alg` none, an empty signature) as GP Connect allows, or
    signed RS512 with `signing_key` (a PEM RSA private key) where one is configured."""
    payload = claims(requester, audience=audience, now=now)
    if signing_key:
        from jwcrypto import jwk, jwt

        token = jwt.JWT(header={"alg": "RS512", "typ": "JWT"}, claims=payload)
        token.make_signed_token(jwk.JWK.from_pem(signing_key.encode()))
        return token.serialize()
    header = {"alg": "none", "typ": "JWT"}
    return f"{_segment(header)}.{_segment(payload)}."


def _segment(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
