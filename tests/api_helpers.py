"""Test set-up for the partner API: registered clients, tokens from the real token endpoint, and
FHIR validation of every answer with fhir.resources (R4B models: R4 as UK Core uses it)."""

import base64
from typing import Any

from django.test import Client
from fhir.resources.R4B import get_fhir_model_class

from access.models import ApiClient
from access.services import register_api_client
from tests.factories import UserFactory


def api_client_for(team, role: str, scopes: list[str], *, rate: str = "", name: str = ""):
    """A registered partner system for `team` in `role`; returns (ApiClient, secret)."""
    return register_api_client(
        name=name or f"{role} system for {team.name}",
        team=team,
        role=role,
        scopes=scopes,
        rate=rate,
        actor=UserFactory(username="setup"),
    )


def token(http: Client, client: ApiClient, secret: str, scope: str | None = None) -> str:
    """A bearer token from POST /api/oauth/token/ (client credentials, HTTP Basic)."""
    basic = base64.b64encode(f"{client.application.client_id}:{secret}".encode()).decode()
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = http.post("/api/oauth/token/", form, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


def bearer(access_token: str, end_user: str | None = None) -> dict[str, str]:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {access_token}"}
    if end_user is not None:
        headers["HTTP_X_END_USER"] = end_user
    return headers


def valid_fhir(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a FHIR R4 resource (a Bundle validates every entry's resource too)."""
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    return body


def outcome_codes(body: dict[str, Any]) -> list[str]:
    """Our stable codes in an OperationOutcome."""
    return [
        coding["code"]
        for issue in body["issue"]
        for coding in issue.get("details", {}).get("coding", [])
        if coding.get("system", "").endswith("/api-error")
    ]
