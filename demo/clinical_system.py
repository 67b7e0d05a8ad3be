"""A simulated clinical system (as EMIS, SystmOne or Cerner would be) that launches the shared care
record in its patient's context with SMART App Launch 2.x (EHR launch): a real HTTP server on
loopback with a page of demo patients, each with a "Shared care record" button.

It serves what the portal asks of a clinical system: `.well-known/smart-configuration`, an
authorisation endpoint that approves at once (the clinician is signed in to their clinical system
already) after checking the client, its redirect URI and PKCE, a token endpoint (codes used once,
PKCE checked, the patient in context in the answer) and `Patient/<id>` (UK Core, with the NHS
number) for its bearer token. It can be told to misbehave, for the tests (FAULTS).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import logging
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from demo.pds import pds_patient
from demo.population import Person, Population, generate
from demo.sources import LoopbackServer, serve_until_signalled

logger = logging.getLogger(__name__)

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
UK_CORE_PATIENT = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Patient"
# What the simulator can be told to do wrong (`fault`, or POST /simulator/faults), until cleared.
FAULTS = frozenset(
    {
        "hang",  # the configuration, token and Patient answers wait `hang_seconds` first
        "junk-configuration",  # .well-known/smart-configuration is not JSON
        "junk-token",  # the token endpoint answers 200 with something that is not JSON
        "token-without-patient",  # the token answer has no patient launch context
        "no-nhs-number",  # the Patient has no NHS number identifier
        "invalid-nhs-number",  # the Patient's NHS number has a wrong check digit
        "deny",  # the authorisation endpoint sends the browser back with access_denied
    }
)
LAUNCH_SECONDS = 300
CODE_SECONDS = 60
TOKEN_SECONDS = 300
SCOPES_SUPPORTED = ["launch", "openid", "fhirUser", "patient/Patient.rs", "patient/Patient.read"]
_STATUS_TEXT = {
    200: "200 OK",
    302: "302 Found",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
}


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    code_challenge: str
    patient_id: str
    scope: str
    expires_at: float


class _Answer(Exception):
    def __init__(self, status: int, body: Any, headers: list[tuple[str, str]] | None = None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or []


def patient_id_of(person: Person) -> str:
    """The clinical system's own id for a person: stable, and not their NHS number (as in EMIS)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo-clinical-system/{person.nhs_number}"))


class SimulatedClinicalSystem(LoopbackServer):
    """A clinical system for `population`, served from a background thread. `portal_url`: where
    the portal's /launch lives; `client_id` and `redirect_uris`: the portal as registered here;
    `client_jwks`: the portal's public keys, to check its signed client assertions with (without
    them an assertion's claims are checked and its signature is not)."""

    def __init__(
        self,
        population: Population,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "Riverside GP clinical system (simulated)",
        portal_url: str = "http://127.0.0.1:8000",
        client_id: str = "shared-care-record",
        redirect_uris: list[str] | None = None,
        client_jwks: dict | None = None,
        listed: int = 20,
    ) -> None:
        self.population, self.host, self.port, self.name = population, host, port, name
        self.portal_url = portal_url.rstrip("/")
        self.client_id = client_id
        self.redirect_uris = redirect_uris or [f"{self.portal_url}/launch/callback"]
        self.client_jwks = client_jwks
        self.listed = list(population.people[:listed])
        self._people = {patient_id_of(person): person for person in population.people}
        self.fault: str | None = None
        self.hang_seconds = 30.0
        self.requests: list[str] = []  # "METHOD /path" of every request, for the tests
        self._launches: dict[str, tuple[str, float]] = {}
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._used_jtis: set[str] = set()
        self._lock = threading.Lock()
        self._serve_init()

    @property
    def address(self) -> str:
        return self.origin

    @property
    def base_url(self) -> str:
        """The FHIR base: the `iss` of its launches, and the issuer to register in the portal."""
        return f"{self.address}/fhir"

    @property
    def token_endpoint(self) -> str:
        return f"{self.address}/oauth2/token"

    def _thread_name(self) -> str:
        return "demo-clinical-system"

    def launch_url(self, person: Person) -> str:
        """A fresh launch of the portal for `person`, as pressing their button makes."""
        launch_id = secrets.token_urlsafe(16)
        with self._lock:
            self._launches[launch_id] = (patient_id_of(person), time.time() + LAUNCH_SECONDS)
        query = urlencode({"iss": self.base_url, "launch": launch_id})
        return f"{self.portal_url}/launch?{query}"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """The WSGI application."""
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        with self._lock:
            self.requests.append(f"{method} {path}")
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        try:
            status, body, headers = self._route(method, path, query, environ)
        except _Answer as answer:
            status, body, headers = answer.status, answer.body, answer.headers
        if isinstance(body, str):
            payload, content_type = body.encode("utf-8"), "text/html; charset=utf-8"
        elif isinstance(body, bytes):
            payload, content_type = body, "application/json"
        else:
            payload, content_type = json.dumps(body).encode("utf-8"), "application/json"
        if path.startswith("/fhir/Patient"):
            content_type = "application/fhir+json; charset=utf-8"
        logger.info("clinical system %s %s %d", method, path, status)
        start_response(
            _STATUS_TEXT[status],
            [
                ("Content-Type", content_type),
                ("Content-Length", str(len(payload))),
                ("Cache-Control", "no-store"),
                *headers,
            ],
        )
        return [payload]

    def _route(self, method: str, path: str, query: dict, environ: dict) -> tuple[int, Any, list]:
        if path == "/" and method == "GET":
            return 200, self._patient_list(), []
        if path.startswith("/launch/") and method == "GET":
            return self._press_button(path.removeprefix("/launch/"))
        if path == "/simulator/faults" and method == "POST":
            return self._set_fault(environ)
        if path.startswith(("/fhir/", "/oauth2/token")) and self.fault == "hang":
            self._stopping.wait(self.hang_seconds)
        if path == "/fhir/.well-known/smart-configuration" and method == "GET":
            if self.fault == "junk-configuration":
                return 200, b"<html>Service temporarily unavailable</html>", []
            return 200, self.smart_configuration(), []
        if path == "/fhir/metadata" and method == "GET":
            return 200, self._capability_statement(), []
        if path == "/oauth2/authorize" and method == "GET":
            return self._authorize(query)
        if path == "/oauth2/token":
            if method != "POST":
                raise _Answer(405, {"error": "invalid_request"})
            return 200, self._token(environ), []
        if path.startswith("/fhir/Patient/") and method == "GET":
            return 200, self._read_patient(path.removeprefix("/fhir/Patient/"), environ), []
        return 404, {"error": f"no such page {path}"}, []

    def smart_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.base_url,
            "authorization_endpoint": f"{self.address}/oauth2/authorize",
            "token_endpoint": self.token_endpoint,
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
            "grant_types_supported": ["authorization_code"],
            "scopes_supported": SCOPES_SUPPORTED,
            "response_types_supported": ["code"],
            "code_challenge_methods_supported": ["S256"],
            "capabilities": [
                "launch-ehr",
                "client-public",
                "client-confidential-asymmetric",
                "context-ehr-patient",
                "permission-v2",
                "sso-openid-connect",
            ],
        }

    def _capability_statement(self) -> dict[str, Any]:
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["application/fhir+json"],
            "rest": [{"mode": "server", "resource": [{"type": "Patient"}]}],
        }

    def _patient_list(self) -> str:
        rows = "".join(
            f"<tr><td>{html.escape(person.display_name)}</td>"
            f"<td>{person.birth_date.day} {person.birth_date:%B %Y}</td>"
            f"<td>{person.nhs_number[:3]} {person.nhs_number[3:6]} {person.nhs_number[6:]}</td>"
            f'<td><form method="get" action="/launch/{index}" target="_blank">'
            "<button>Shared care record</button></form></td></tr>"
            for index, person in enumerate(self.listed)
        )
        name = html.escape(self.name)
        return f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}</title>
<style>
body {{ font-family: Arial, sans-serif; margin: 0; color: #212b32; }}
.simulation {{ background: #ffeb3b; padding: 12px 16px; font-weight: bold; }}
main {{ padding: 16px; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #d8dde0; padding: 8px 4px; text-align: left; }}
button {{ background: #005eb8; color: #fff; border: 0; padding: 8px 12px; font-size: 1rem; }}
</style></head>
<body>
<p class="simulation">SIMULATION: this is not a real clinical system. It stands in for EMIS,
SystmOne or Cerner to show how they open the shared care record (SMART App Launch).</p>
<main>
<h1>{name}</h1>
<p>You are signed in to this clinical system. Pressing "Shared care record" opens the patient's
record in the shared care record (you sign in there if you have not).</p>
<table><thead><tr><th>Patient</th><th>Born</th><th>NHS number</th><th></th></tr></thead>
<tbody>{rows}</tbody></table>
</main></body></html>"""

    def _press_button(self, index: str) -> tuple[int, Any, list]:
        if not index.isdigit() or int(index) >= len(self.listed):
            raise _Answer(404, {"error": "no such patient on the list"})
        return 302, b"", [("Location", self.launch_url(self.listed[int(index)]))]

    def _set_fault(self, environ: dict) -> tuple[int, Any, list]:
        try:
            fault = json.loads(_body(environ) or b"{}").get("fault")
        except (ValueError, AttributeError):
            raise _Answer(400, {"error": 'send JSON: {"fault": name or null}'}) from None
        if fault is not None and fault not in FAULTS:
            raise _Answer(400, {"error": f"unknown fault; expected one of {sorted(FAULTS)}"})
        self.fault = fault
        return 200, {"fault": fault}, []

    def _authorize(self, query: dict) -> tuple[int, Any, list]:
        """Checks the client before anything else: a wrong client or redirect URI gets a page
        here, never a redirect (RFC 6749 4.1.2.1); then the other faults go back to it."""
        if query.get("client_id") != self.client_id:
            raise _Answer(400, _error_page(self.name, "This application is not registered here."))
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in self.redirect_uris:
            raise _Answer(400, _error_page(self.name, "The redirect URI is not registered."))
        state = query.get("state", "")

        def back(**params: str) -> tuple[int, Any, list]:
            location = f"{redirect_uri}?{urlencode({**params, 'state': state})}"
            return 302, b"", [("Location", location)]

        if query.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if query.get("code_challenge_method") != "S256" or not query.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE with S256 is required")
        if query.get("aud", "").rstrip("/") != self.base_url:
            return back(error="invalid_request", error_description="aud is not this FHIR server")
        with self._lock:
            patient_id, expires_at = self._launches.pop(query.get("launch", ""), ("", 0.0))
        if not patient_id or expires_at < time.time():
            return back(error="invalid_request", error_description="unknown or expired launch")
        if self.fault == "deny":
            return back(error="access_denied", error_description="the clinician cancelled")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                code_challenge=query["code_challenge"],
                patient_id=patient_id,
                scope=query.get("scope", ""),
                expires_at=time.time() + CODE_SECONDS,
            )
        return back(code=code)

    def _token(self, environ: dict) -> Any:
        form = {k: v[-1] for k, v in parse_qs(_body(environ).decode("utf-8", "replace")).items()}
        client_id = self._client_of(form)
        if form.get("grant_type") != "authorization_code":
            raise _Answer(400, {"error": "unsupported_grant_type"})
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # used once, whatever follows
        if grant is None or grant.expires_at < time.time() or grant.client_id != client_id:
            raise _Answer(400, {"error": "invalid_grant", "error_description": "unknown code"})
        if form.get("redirect_uri") != grant.redirect_uri:
            raise _Answer(400, {"error": "invalid_grant", "error_description": "redirect_uri"})
        verifier = form.get("code_verifier", "").encode("ascii", "replace")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
        if challenge.decode() != grant.code_challenge:
            raise _Answer(400, {"error": "invalid_grant", "error_description": "PKCE failed"})
        if self.fault == "junk-token":
            return b"<html>Gateway timeout</html>"
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[access_token] = (grant.patient_id, time.time() + TOKEN_SECONDS)
        answer = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_SECONDS,
            "scope": grant.scope,
            "patient": grant.patient_id,
            "need_patient_banner": True,
        }
        if self.fault == "token-without-patient":
            del answer["patient"]
        return answer

    def _client_of(self, form: dict) -> str:
        """The client's id: a public client names itself; a confidential one signs an
        assertion (private_key_jwt) whose claims, and signature when we hold its keys, hold."""
        assertion = form.get("client_assertion")
        if assertion is None:
            # A client registered with its keys must sign: it is not a public client.
            if form.get("client_id") != self.client_id or self.client_jwks is not None:
                raise _Answer(401, {"error": "invalid_client"})
            return self.client_id
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise _Answer(401, {"error": "invalid_client", "error_description": "assertion type"})
        try:
            if self.client_jwks is not None:
                keys = KeySet.import_key_set(self.client_jwks)
                claims = jwt.decode(assertion, keys, algorithms=["RS384", "ES384"]).claims
            else:
                claims = json.loads(_b64(assertion.split(".")[1]))
        except (JoseError, ValueError, IndexError):
            raise _Answer(
                401, {"error": "invalid_client", "error_description": "bad assertion"}
            ) from None
        now = time.time()
        good = (
            claims.get("iss") == claims.get("sub") == self.client_id
            and claims.get("aud") in (self.token_endpoint, [self.token_endpoint])
            and isinstance(claims.get("exp"), int)
            and now < claims["exp"] <= now + 300 + 5
            and claims.get("jti")
            and claims["jti"] not in self._used_jtis
        )
        if not good:
            raise _Answer(401, {"error": "invalid_client", "error_description": "bad claims"})
        self._used_jtis.add(claims["jti"])
        return self.client_id

    def _read_patient(self, patient_id: str, environ: dict) -> dict[str, Any]:
        authorisation = environ.get("HTTP_AUTHORIZATION", "")
        token = authorisation.removeprefix("Bearer ") if authorisation.startswith("Bearer ") else ""
        with self._lock:
            allowed, expires_at = self._tokens.get(token, ("", 0.0))
        if not token or expires_at < time.time():
            raise _Answer(401, {"error": "invalid_token"}, [("WWW-Authenticate", "Bearer")])
        if allowed != patient_id:  # patient/ scopes: the patient in context and no other
            raise _Answer(403, {"error": "insufficient_scope"})
        person = self._people.get(patient_id)
        if person is None:
            raise _Answer(404, {"resourceType": "OperationOutcome"})
        resource = pds_patient(person, restricted=False)
        resource["id"] = patient_id
        resource["meta"] = {"profile": [UK_CORE_PATIENT]}
        if self.fault == "no-nhs-number":
            resource["identifier"] = []
        elif self.fault == "invalid-nhs-number":
            wrong = str((int(person.nhs_number[-1]) + 1) % 10)
            resource["identifier"][0]["value"] = person.nhs_number[:-1] + wrong
        return resource


def _body(environ: dict) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _error_page(system: str, message: str) -> str:
    return (
        f"<!doctype html><html lang='en-GB'><head><meta charset='utf-8'><title>Error</title>"
        f"</head><body><p><strong>SIMULATION</strong> of {html.escape(system)}</p>"
        f"<h1>Cannot sign in to this application</h1><p>{html.escape(message)}</p></body></html>"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8109)
    parser.add_argument("--portal-url", default="http://127.0.0.1:8000")
    parser.add_argument("--client-id", default="shared-care-record")
    parser.add_argument("--name", default="Riverside GP clinical system (simulated)")
    parser.add_argument("--log-level", default="INFO")
    options = parser.parse_args(argv)
    logging.basicConfig(level=options.log_level, format="%(asctime)s %(name)s %(message)s")
    population = generate(seed=options.seed, patients=options.patients)
    system = SimulatedClinicalSystem(
        population,
        host=options.host,
        port=options.port,
        name=options.name,
        portal_url=options.portal_url,
        client_id=options.client_id,
    ).start()
    print(f"clinical-system {options.name} {system.address}/ (iss {system.base_url})", flush=True)
    serve_until_signalled(system)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
