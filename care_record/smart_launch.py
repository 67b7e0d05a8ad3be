"""The SMART App Launch 2.x (EHR launch) client steps, with Authlib: which clinical systems may
launch the record, the way to a system's authorisation endpoint, and the way back to an NHS number.

Every failure of the clinical system becomes a LaunchFailed naming it and what went wrong, for
the page (care_record/launch.py); nothing here reads the record or decides who may see it.
"""

import json
import logging
import re
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.core.exceptions import ValidationError
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

from access.models import ClinicalSystem
from access.service_key import SignedAssertion, service_signing_key
from records.identifiers import NHS_NUMBER_SYSTEM
from records.nhs_numbers import normalise_nhs_number

logger = logging.getLogger(__name__)

# SMART v2 scopes: the launch context, who the user is, and read/search of the patient alone.
SCOPE = "launch openid fhirUser patient/Patient.rs"
# A launch not finished within this long is forgotten (the clinician presses the button again).
PENDING_SECONDS = 600
# At most this many launches wait in one session (two tabs, a double press), oldest dropped.
PENDING_LIMIT = 5
# Documents we read from a clinical system (its configuration, a Patient) are small: a bigger
# one is a fault, not something to hold in memory.
MAX_DOCUMENT_BYTES = 1_000_000
# What a launch parameter may be at most: longer is not a launch from a clinical system.
MAX_PARAMETER_LENGTH = 2000
# A FHIR resource id (FHIR R4 "id" datatype): also keeps a path out of the Patient's address.
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
FHIR_JSON = "application/fhir+json"


class LaunchFailed(Exception):
    """The launch cannot go on: `problem` says what went wrong, in words for the clinician;
    `status` is the answer's (400 for a request we refuse, 502 for a clinical system's fault)."""

    def __init__(self, problem: str, *, status: int = 502, system: ClinicalSystem | None = None):
        super().__init__(problem)
        self.problem, self.status, self.system = problem, status, system


@dataclass(frozen=True)
class PendingLaunch:
    """What the way back needs, kept in the session under its state (never sent anywhere)."""

    system_id: int
    token_endpoint: str
    code_verifier: str
    started_at: float

    def as_session(self) -> dict:
        return asdict(self)


def timeout() -> float:
    """Seconds any one call to a clinical system may take: a hanging system fails fast."""
    return settings.LCR_LAUNCH_TIMEOUT_SECONDS


def registered_system(iss: str) -> ClinicalSystem | None:
    """The active clinical system whose FHIR base is `iss` (a trailing slash aside), or None.
    Nothing is ever fetched from an `iss` that is not one: that would let anyone make us call
    any address (server-side request forgery)."""
    if not iss or len(iss) > MAX_PARAMETER_LENGTH:
        return None
    base = iss.rstrip("/")
    return ClinicalSystem.objects.filter(active=True, issuer__in=[base, base + "/"]).first()


def authorisation_url(
    system: ClinicalSystem, *, iss: str, launch: str, redirect_uri: str
) -> tuple[str, str, PendingLaunch]:
    """Read the system's SMART configuration and build the address to send the browser to:
    (url, state, what the way back needs)."""
    config = _smart_configuration(system)
    with _client(system, redirect_uri) as client:
        verifier = generate_token(64)
        url, state = client.create_authorization_url(
            config["authorization_endpoint"], code_verifier=verifier, aud=iss, launch=launch
        )
    pending = PendingLaunch(
        system_id=system.pk,
        token_endpoint=config["token_endpoint"],
        code_verifier=verifier,
        started_at=time.time(),
    )
    return url, state, pending


def launched_nhs_number(
    system: ClinicalSystem, pending: PendingLaunch, *, code: str, redirect_uri: str
) -> str:
    """Exchange the code for a token, take the patient in context from it, read that Patient
    from the system with the token, and answer its NHS number (checked)."""
    with _client(system, redirect_uri, pending.token_endpoint) as client:
        token = _token(system, client, pending, code)
        patient_id = token.get("patient")
        if not isinstance(patient_id, str) or not patient_id:
            raise LaunchFailed(
                f"{system.name} did not say which patient the record was opened for (its token "
                "answer has no patient).",
                system=system,
            )
        if not FHIR_ID.fullmatch(patient_id):
            raise LaunchFailed(
                f"{system.name} named the patient with an id that is not a FHIR id.", system=system
            )
        resource = _read_json(
            system,
            client,
            f"{system.issuer.rstrip('/')}/Patient/{patient_id}",
            what="the patient's details",
        )
    if resource.get("resourceType") != "Patient" or resource.get("id", patient_id) != patient_id:
        raise LaunchFailed(
            f"{system.name} answered with something other than the patient it launched for.",
            system=system,
        )
    return nhs_number_of(system, resource)


def nhs_number_of(system: ClinicalSystem, patient: dict) -> str:
    """The one NHS number a Patient carries (UK Core: identifier system nhs-number), checked
    with the project's rule; a Patient without one, or with a bad or a second one, is refused."""
    identifiers = patient.get("identifier")
    values = [
        identifier.get("value")
        for identifier in (identifiers if isinstance(identifiers, list) else [])
        if isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER_SYSTEM
    ]
    if not values:
        raise LaunchFailed(
            f"{system.name} sent the patient without an NHS number, so their record cannot be "
            "found. Check the patient's NHS number in the clinical system.",
            system=system,
        )
    numbers = set()
    for value in values:
        try:
            numbers.add(normalise_nhs_number(value))
        except ValidationError as error:
            raise LaunchFailed(
                f"{system.name} sent the patient with an NHS number that is not valid: "
                f"{' '.join(error.messages)}",
                system=system,
            ) from None
    if len(numbers) > 1:
        raise LaunchFailed(
            f"{system.name} sent the patient with more than one NHS number, so it is not clear "
            "whose record to open. Check the patient's NHS number in the clinical system.",
            system=system,
        )
    return numbers.pop()


def _client(
    system: ClinicalSystem, redirect_uri: str, token_endpoint: str | None = None
) -> OAuth2Session:
    """Authlib's client for this system: PKCE S256; private_key_jwt with the service's key when
    one is configured, a public client otherwise."""
    key = _signing_key(system)
    client = OAuth2Session(
        client_id=system.client_id,
        client_secret=key,
        token_endpoint_auth_method="private_key_jwt" if key is not None else "none",
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        default_timeout=timeout(),
        # The token is used at once, for one read: however short its life, it is not refreshed.
        leeway=0,
    )
    if key is not None:
        client.register_client_auth_method(SignedAssertion(key, "RS384", token_endpoint))
    return client


def _signing_key(system: ClinicalSystem) -> RSAKey | None:
    try:
        return service_signing_key()
    except (JoseError, ValueError):
        logger.exception("LCR_OIDC_PRIVATE_KEY cannot be read as an RSA private key")
        raise LaunchFailed(
            "This service's signing key is not set up correctly, so it cannot sign in to "
            f"{system.name}. Tell the shared care record office.",
            status=503,
            system=system,
        ) from None


def _smart_configuration(system: ClinicalSystem) -> dict:
    """The system's .well-known/smart-configuration, with the endpoints this flow needs."""
    url = f"{system.issuer.rstrip('/')}/.well-known/smart-configuration"
    with requests.Session() as session:
        config = _read_json(system, session, url, what="its SMART configuration")
    for name in ("authorization_endpoint", "token_endpoint"):
        if not _usable_endpoint(system, config.get(name)):
            raise LaunchFailed(
                f"{system.name}'s SMART configuration has no usable {name}.", system=system
            )
    methods = config.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        raise LaunchFailed(
            f"{system.name} does not support PKCE with S256, which a launch requires.",
            system=system,
        )
    return config


def _usable_endpoint(system: ClinicalSystem, value: object) -> bool:
    """An absolute address over HTTPS (or over HTTP where the system's own base is, the demo)."""
    if not isinstance(value, str) or len(value) > MAX_PARAMETER_LENGTH:
        return False
    parts = urlsplit(value)
    allowed = {"https", urlsplit(system.issuer).scheme}
    return parts.scheme in allowed and bool(parts.netloc)


def _token(
    system: ClinicalSystem, client: OAuth2Session, pending: PendingLaunch, code: str
) -> dict:
    try:
        token = client.fetch_token(
            pending.token_endpoint,
            grant_type="authorization_code",
            code=code,
            code_verifier=pending.code_verifier,
            allow_redirects=False,
        )
    except OAuthError as error:
        raise LaunchFailed(
            f"{system.name} refused to finish the launch ({_words(error.error)}"
            f"{': ' + _words(error.description) if error.description else ''}).",
            system=system,
        ) from None
    except requests.Timeout:
        raise LaunchFailed(
            f"{system.name} did not answer in time when asked for access.", system=system
        ) from None
    except requests.RequestException as error:
        raise LaunchFailed(_unreachable(system, "asked for access", error), system=system) from None
    except ValueError:
        raise LaunchFailed(
            f"{system.name}'s answer when asked for access could not be read.", system=system
        ) from None
    if not token.get("access_token"):
        raise LaunchFailed(f"{system.name} gave no access token.", system=system)
    if str(token.get("token_type", "")).lower() != "bearer":
        raise LaunchFailed(f"{system.name} gave a token of a kind we cannot use.", system=system)
    return token


def _read_json(system: ClinicalSystem, session: requests.Session, url: str, *, what: str) -> dict:
    """GET one JSON object from the system, never following a redirect (it could lead anywhere),
    within the timeout and the size limit."""
    try:
        with session.get(
            url,
            headers={"Accept": f"{FHIR_JSON}, application/json"},
            timeout=timeout(),
            allow_redirects=False,
            stream=True,
        ) as response:
            body = _limited_body(system, response, what)
    except requests.Timeout:
        raise LaunchFailed(
            f"{system.name} did not answer in time when asked for {what}.", system=system
        ) from None
    except requests.RequestException as error:
        raise LaunchFailed(
            _unreachable(system, f"asked for {what}", error), system=system
        ) from None
    except OAuthError:  # the token it gave has already expired
        raise LaunchFailed(
            f"{system.name} gave an access token that could not be used for {what}.",
            system=system,
        ) from None
    if response.status_code != 200:
        raise LaunchFailed(
            f"{system.name} answered HTTP {response.status_code} when asked for {what}.",
            system=system,
        )
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise LaunchFailed(
            f"{system.name} sent {what} in a form that could not be read (not a JSON object).",
            system=system,
        )
    return document


def _limited_body(system: ClinicalSystem, response: requests.Response, what: str) -> bytearray:
    body = bytearray()
    for chunk in response.iter_content(64 * 1024):
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise LaunchFailed(
                f"{system.name} sent {what} far larger than expected.", system=system
            )
    return body


def _unreachable(system: ClinicalSystem, when: str, error: Exception) -> str:
    logger.warning("launch: %s unreachable when %s: %s", system.name, when, type(error).__name__)
    return f"{system.name} could not be reached when {when}."


def _words(text: object) -> str:
    """A clinical system's own error words, kept short for the page (the page escapes them)."""
    return str(text)[:200]
