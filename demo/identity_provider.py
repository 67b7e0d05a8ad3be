"""Simulated OpenID Connect providers for the demo and the tests: a CIS2-like one (NHS staff), a
council's Entra ID-like one (social workers) and an NHS login-like one (patients), each a real
HTTP server on loopback.

They follow OpenID Connect Core (authorization code flow), Discovery, PKCE (RFC 7636, S256 only),
client authentication by private_key_jwt (RFC 7523) or a client secret, RP-initiated logout and
Back-Channel Logout 1.0, with CIS2's claim shapes (nhsid_nrbac_roles, selected_roleid, assurance
levels), and NHS login's (identity_proofing_level, vot, nhs_number; RS512; private_key_jwt only).
Faults can be injected into the next ID token so the relying party's checks are tested.
Run one with `python -m demo.identity_provider --profile cis2 ...` (see main()).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import secrets
import threading
import time
import uuid
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from joserfc import jwk, jwt
from joserfc.errors import JoseError

from demo import identity_provider_pages as pages
from demo.identity_provider_clients import (
    ASSERTION_ALGORITHMS,
    JWT_BEARER,
    ClientAuthenticator,
    ClientRefused,
)
from demo.identity_provider_signin import CIS2_ACR_LEVELS, Grant, ProviderSession, SignInJourney
from demo.identity_provider_users import (
    COUNCIL_ROLES,
    DEMO_ROLE_CODES,
    PRACTICE,
    IdentityProviderUser,
    RegisteredClient,
    demo_role_codes,
    demo_users,
)
from demo.identity_provider_wsgi import (
    Answer,
    add_query,
    b64url,
    form_parameters,
    json_body,
    oauth_error,
    query_parameters,
)
from demo.population import generate
from demo.sources import LoopbackServer, serve_until_signalled

logger = logging.getLogger(__name__)

# The public API is this module's: users, clients and client authentication live beside it.
__all__ = [
    "BACKCHANNEL_EVENT",
    "COUNCIL_ROLES",
    "DEFAULT_TENANT_ID",
    "DEMO_ROLE_CODES",
    "FAULTS",
    "JWT_BEARER",
    "PRACTICE",
    "PROFILES",
    "IdentityProviderUser",
    "RegisteredClient",
    "SimulatedIdentityProvider",
    "demo_role_codes",
    "demo_users",
    "main",
]

PROFILES = ("cis2", "council", "nhs-login")
CIS2_BASE_PATH = "/openam/oauth2/realms/root/realms/oidc"
# A fixed tenant, so the council's issuer is the same every time the demo starts.
DEFAULT_TENANT_ID = "8d3f1a52-6c1e-4b7a-9f1d-2e5c0a7b4d21"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"
FAULTS = frozenset(
    {
        "wrong-nonce",
        "wrong-audience",
        "wrong-issuer",
        "expired",
        "wrong-signature",
        "downgraded-assurance",
        "no-roles",
    }
)
TOKEN_LIFETIME = 3600


def _half_hash(value: str, alg: str = "RS256") -> str:
    """at_hash (OpenID Connect Core 3.1.3.6): the left half of the hash the ID token's algorithm
    uses (SHA-256 for RS256, SHA-512 for RS512), base64url."""
    digest = hashlib.sha512 if alg.endswith("512") else hashlib.sha256
    full = digest(value.encode()).digest()
    return b64url(full[: len(full) // 2])


class SimulatedIdentityProvider(SignInJourney, LoopbackServer):
    """A CIS2-like (`profile="cis2"`) or council Entra ID-like (`profile="council"`) OpenID
    provider on loopback. Port 0 takes a free port; the issuer is known once started."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        profile: str,
        users: list[IdentityProviderUser],
        clients: list[RegisteredClient],
        tenant_id: str = DEFAULT_TENANT_ID,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"unknown profile {profile!r}")
        self.host, self.port, self.profile, self.tenant_id = host, port, profile, tenant_id
        self.users = {user.username: user for user in users}
        self.clients = {client.client_id: client for client in clients}
        # A new signing key for each provider made (each start of the demo): relying parties must
        # fetch the JWKS again on a kid they do not know, as with a real provider rotating keys.
        self.key = jwk.RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8)})
        self._lock = threading.Lock()
        self._faults: list[str] = []
        self._pending: dict[str, dict[str, str]] = {}  # sign-ins in progress, by request id
        self._sessions: dict[str, ProviderSession] = {}  # by browser cookie
        self._codes: dict[str, Grant] = {}
        self._used_codes: dict[str, list[str]] = {}  # code -> the access tokens it gave
        self._tokens: dict[str, Grant] = {}
        self._client_authenticator = ClientAuthenticator(self.clients)
        self._serve_init()

    # Addresses ---------------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        if self.profile == "cis2":
            return self.origin + CIS2_BASE_PATH
        if self.profile == "nhs-login":
            return self.origin  # NHS login's issuer is its origin (https://auth.login.nhs.uk)
        return f"{self.origin}/{self.tenant_id}/v2.0"

    def _paths(self) -> dict[str, str]:
        """Endpoint paths as each real provider lays them out (ForgeRock AM for CIS2, Entra)."""
        if self.profile == "cis2":
            base = CIS2_BASE_PATH
            return {
                "authorization_endpoint": f"{base}/authorize",
                "token_endpoint": f"{base}/access_token",
                "userinfo_endpoint": f"{base}/userinfo",
                "jwks_uri": f"{base}/connect/jwk_uri",
                "end_session_endpoint": f"{base}/connect/endSession",
            }
        if self.profile == "nhs-login":
            # As NHS login lays them out; it offers no RP-initiated logout endpoint.
            return {
                "authorization_endpoint": "/authorize",
                "token_endpoint": "/token",
                "userinfo_endpoint": "/userinfo",
                "jwks_uri": "/.well-known/jwks.json",
            }
        tenant = f"/{self.tenant_id}"
        return {
            "authorization_endpoint": f"{tenant}/oauth2/v2.0/authorize",
            "token_endpoint": f"{tenant}/oauth2/v2.0/token",
            "userinfo_endpoint": "/oidc/userinfo",
            "jwks_uri": f"{tenant}/discovery/v2.0/keys",
            "end_session_endpoint": f"{tenant}/oauth2/v2.0/logout",
        }

    @property
    def token_endpoint(self) -> str:
        return self.origin + self._paths()["token_endpoint"]

    @property
    def authorization_endpoint(self) -> str:
        return self.origin + self._paths()["authorization_endpoint"]

    @property
    def discovery_url(self) -> str:
        return self.issuer + "/.well-known/openid-configuration"

    def _thread_name(self) -> str:
        return f"demo-identity-provider-{self.profile}"

    def metadata(self) -> dict[str, Any]:
        """The discovery document (OpenID Connect Discovery 1.0, section 3)."""
        document: dict[str, Any] = {"issuer": self.issuer}
        document |= {name: self.origin + path for name, path in self._paths().items()}
        document |= {
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self._alg],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": [
                "private_key_jwt",
                "client_secret_post",
                "client_secret_basic",
            ],
            "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
            "backchannel_logout_supported": True,
            "backchannel_logout_session_supported": True,
            "authorization_response_iss_parameter_supported": True,
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "prompt_values_supported": ["none", "login"],
        }
        if self.profile == "cis2":
            document["scopes_supported"] = [
                "openid",
                "profile",
                "email",
                "nationalrbacaccess",
                "associatedorgs",
                "professionalmemberships",
                "organisationalmemberships",
                "selectedrole",
            ]
            document["acr_values_supported"] = list(CIS2_ACR_LEVELS)
            document["claims_supported"] = [
                "iss", "aud", "sub", "exp", "iat", "auth_time", "nonce", "sid", "acr", "amr",
                "id_assurance_level", "authentication_assurance_level", "selected_roleid",
                "name", "given_name", "family_name", "uid", "email", "nhsid_useruid",
                "nhsid_nrbac_roles", "nhsid_user_orgs",
            ]  # fmt: skip
        elif self.profile == "nhs-login":
            document |= {
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                "token_endpoint_auth_signing_alg_values_supported": ["RS512"],
                "backchannel_logout_supported": False,
                "backchannel_logout_session_supported": False,
                "scopes_supported": [
                    "openid", "profile", "email", "phone", "nhs_number", "profile_extended",
                    "gp_registration_details",
                ],
                "vtr_values_supported": ["P0.Cp.Cd", "P0.Cp.Ck", "P5.Cp.Cd", "P5.Cp.Ck",
                                         "P9.Cp.Cd", "P9.Cp.Ck"],
                "claims_supported": [
                    "iss", "aud", "sub", "exp", "iat", "auth_time", "nonce", "jti", "vot", "vtm",
                    "identity_proofing_level", "nhs_number", "birthdate", "family_name",
                    "given_name", "email", "email_verified",
                ],
            }  # fmt: skip
        else:
            document["scopes_supported"] = ["openid", "profile", "email", "offline_access"]
            # Entra has no ACR values of its own; it says how the user signed in in `amr`.
            document["acr_values_supported"] = []
            document["claims_supported"] = [
                "iss", "aud", "sub", "oid", "tid", "exp", "iat", "nbf", "nonce", "sid", "name",
                "preferred_username", "email", "roles", "amr", "ver",
            ]  # fmt: skip
        return document

    @property
    def _alg(self) -> str:
        # NHS login signs its ID tokens RS512; the others here, RS256.
        return "RS512" if self.profile == "nhs-login" else "RS256"

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.key.as_dict(private=False) | {"use": "sig", "alg": self._alg}]}

    # Faults ------------------------------------------------------------------------------------
    def fault_next_token(self, name: str) -> None:
        """Spoil the next ID token issued in the way `name` says (one of FAULTS)."""
        if name not in FAULTS:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULTS))}")
        with self._lock:
            self._faults.append(name)

    def _take_fault(self) -> str | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    # WSGI --------------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        """The WSGI application."""
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")
        try:
            self._route(method, path, environ)
            raise Answer(404, {"error": "not_found"})
        except Answer as answer:
            status, body, headers = answer.status, answer.body, answer.headers
        except Exception:
            logger.exception("identity provider: %s %s failed", method, path)
            status, body, headers = 500, {"error": "server_error"}, []
        if isinstance(body, (dict, list)):
            payload, content_type = json.dumps(body).encode(), "application/json"
        else:
            payload, content_type = body, "text/html; charset=utf-8"
        if not any(name.lower() == "content-type" for name, _ in headers):
            headers = [("Content-Type", content_type), *headers]
        headers.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [payload]

    def _route(self, method: str, path: str, environ: dict[str, Any]) -> None:
        paths = self._paths()
        issuer_path = urlsplit(self.issuer).path
        if path == issuer_path + "/.well-known/openid-configuration" and method == "GET":
            raise Answer(200, self.metadata())
        if path == paths["jwks_uri"] and method == "GET":
            raise Answer(200, self.jwks())
        if path == paths["authorization_endpoint"]:
            self._authorize(method, environ)
        if path == paths["token_endpoint"] and method == "POST":
            self._token(environ)
        if path == paths["userinfo_endpoint"] and method in ("GET", "POST"):
            self._userinfo(environ)
        if path == paths.get("end_session_endpoint") and method in ("GET", "POST"):
            self._end_session(method, environ)
        simulator = issuer_path + "/simulator/"
        if path.startswith(simulator):
            self._simulator(method, path.removeprefix(simulator), environ)

    # Token endpoint ----------------------------------------------------------------------------
    def _token(self, environ: dict[str, Any]) -> None:
        form = form_parameters(environ)
        if self.profile == "nhs-login" and "client_assertion" not in form:
            raise oauth_error(401, "invalid_client", "NHS login accepts only private_key_jwt")
        try:
            client = self._client_authenticator.authenticate(
                form, environ.get("HTTP_AUTHORIZATION", ""), token_endpoint=self.token_endpoint
            )
        except ClientRefused as refused:
            challenge = {"WWW-Authenticate": 'Basic realm="token"'} if refused.basic else {}
            raise oauth_error(
                refused.status, refused.error, refused.description, **challenge
            ) from None
        if form.get("grant_type") != "authorization_code":
            raise oauth_error(400, "unsupported_grant_type", "only authorization_code")
        code = form.get("code", "")
        with self._lock:
            grant = self._codes.pop(code, None)
            if grant is None and code in self._used_codes:
                # RFC 6749 4.1.2: a code used twice revokes what it gave the first time.
                for token in self._used_codes[code]:
                    self._tokens.pop(token, None)
        if grant is None or grant.expires < time.time() or grant.client_id != client.client_id:
            raise oauth_error(400, "invalid_grant", "the code is unknown, used or expired")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise oauth_error(400, "invalid_grant", "redirect_uri does not match the request")
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128:
            raise oauth_error(400, "invalid_grant", "code_verifier is missing or malformed")
        if not secrets.compare_digest(
            b64url(hashlib.sha256(verifier.encode()).digest()), grant.code_challenge
        ):
            raise oauth_error(400, "invalid_grant", "PKCE: code_verifier does not match")
        access_token = secrets.token_urlsafe(32)
        id_token, no_roles = self._id_token(grant, access_token)
        grant.no_roles = no_roles
        grant.expires = time.time() + TOKEN_LIFETIME
        with self._lock:
            self._tokens[access_token] = grant
            self._used_codes[code] = [access_token]
        body = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "id_token": id_token,
            "scope": grant.scope,
        }
        raise Answer(200, body, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    def _id_token(self, grant: Grant, access_token: str) -> tuple[str, bool]:
        """The signed ID token for `grant`, with the next injected fault applied; and whether
        that fault empties the roles (the userinfo of this access token then has none too)."""
        user, fault, now = self.users[grant.username], self._take_fault(), int(time.time())
        session = self._session_by_sid(grant.sid)
        auth_time = session.auth_time if session else now
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "sub": user.sub,
            "iat": now,
            "exp": now + TOKEN_LIFETIME,
            "auth_time": auth_time,
            "sid": grant.sid,
            "at_hash": _half_hash(access_token, self._alg),
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if self.profile == "cis2":
            level = session.level if session else 2
            claims |= {
                "acr": grant.acr,
                "amr": session.amr if session else ["pwd", "hwk"],
                "id_assurance_level": "3",
                "authentication_assurance_level": str(level),
                "name": user.name,
                "given_name": user.given_name,
                "family_name": user.family_name,
                "uid": user.sub,
            }
            if grant.role is not None and fault != "no-roles":
                claims["selected_roleid"] = grant.role["person_roleid"]
            if fault == "downgraded-assurance":
                claims |= {
                    "acr": "AAL1_USERPASS",
                    "authentication_assurance_level": "1",
                    "amr": ["pwd"],
                }
        elif self.profile == "nhs-login":
            claims |= self._nhs_login_claims(user, grant.scope)
            claims["jti"] = secrets.token_urlsafe(16)
            if fault == "downgraded-assurance":  # here: an identity proved only to P5
                claims |= {"identity_proofing_level": "P5", "vot": "P5.Cp.Cd"}
        else:
            claims |= {
                "ver": "2.0",
                "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.tenant_id}/{user.username}")),
                "tid": self.tenant_id,
                "nbf": now,
                "name": user.name,
                "preferred_username": user.email,
                "email": user.email,
                "roles": [] if fault == "no-roles" else list(user.roles),
                "amr": ["pwd"] if fault == "downgraded-assurance" else ["pwd", "mfa"],
            }
        key = self.key
        if fault == "wrong-nonce":
            claims["nonce"] = "not-the-nonce-" + secrets.token_urlsafe(8)
        elif fault == "wrong-audience":
            claims["aud"] = "some-other-client"
        elif fault == "wrong-issuer":
            claims["iss"] = self.origin + "/not-this-issuer"
        elif fault == "expired":
            claims |= {"iat": now - 900, "exp": now - 600}
        elif fault == "wrong-signature":
            # Same kid, another key: the relying party must check the signature, not the kid.
            key = jwk.RSAKey.generate_key(2048, parameters={"kid": self.key.kid})
        header = {"alg": self._alg, "kid": self.key.kid, "typ": "JWT"}
        return jwt.encode(header, claims, key, algorithms=[self._alg]), fault == "no-roles"

    def _nhs_login_claims(self, user: IdentityProviderUser, scope: str) -> dict[str, Any]:
        """NHS login's claims of a patient (its interface specification): how far their identity
        is proved (P9: fully, with a photo ID check or NHS App; P5: a match on demographics only)
        and, by scope, their NHS number and demographics. A P5 identity's NHS number is not
        verified; it is sent here all the same, so a relying party is seen to refuse on the
        level, not on a missing claim."""
        scopes = scope.split()
        level = user.proofing_level or "P0"
        claims: dict[str, Any] = {
            "identity_proofing_level": level,
            "vot": f"{level}.Cp.Cd",
            "vtm": f"{self.issuer}/trustmark/{urlsplit(self.issuer).netloc}",
        }
        if "nhs_number" in scopes and user.nhs_number:
            claims["nhs_number"] = user.nhs_number
        if "profile" in scopes:
            claims |= {
                "birthdate": user.birthdate,
                "family_name": user.family_name,
                "given_name": user.given_name,
            }
        if "email" in scopes:
            claims |= {"email": user.email, "email_verified": True}
        return claims

    # Userinfo ----------------------------------------------------------------------------------
    def _userinfo(self, environ: dict[str, Any]) -> None:
        authorization = environ.get("HTTP_AUTHORIZATION", "")
        token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else ""
        with self._lock:
            grant = self._tokens.get(token)
        if grant is None or grant.expires < time.time():
            challenge = 'Bearer error="invalid_token"' if token else 'Bearer realm="userinfo"'
            raise Answer(401, {"error": "invalid_token"}, [("WWW-Authenticate", challenge)])
        user = self.users[grant.username]
        scopes = grant.scope.split()
        body: dict[str, Any] = {"sub": user.sub, "name": user.name}
        if self.profile == "nhs-login":
            raise Answer(200, {"sub": user.sub, **self._nhs_login_claims(user, grant.scope)})
        if self.profile == "council":
            raise Answer(200, body | {"email": user.email})
        body |= {"given_name": user.given_name, "family_name": user.family_name, "uid": user.sub}
        body["nhsid_useruid"] = user.sub
        if "email" in scopes:
            body["email"] = user.email
        # As CIS2 does, the roles come only with the nationalrbacaccess scope.
        if "nationalrbacaccess" in scopes:
            body["nhsid_nrbac_roles"] = [] if grant.no_roles else [dict(r) for r in user.roles]
        if "associatedorgs" in scopes:
            orgs = dict.fromkeys(r["org_code"] for r in user.roles)
            body["nhsid_user_orgs"] = [{"org_code": org, "org_name": org} for org in orgs]
        raise Answer(200, body)

    # Logout ------------------------------------------------------------------------------------
    def _end_session(self, method: str, environ: dict[str, Any]) -> None:
        """RP-initiated logout 1.0: ends this browser's session here, tells the other services
        it signed in to (back-channel), and returns to a registered post_logout_redirect_uri."""
        query = query_parameters(environ) if method == "GET" else form_parameters(environ)
        client = self.clients.get(query.get("client_id", ""))
        if client is None and query.get("id_token_hint"):
            try:
                hint = jwt.decode(query["id_token_hint"], jwk.KeySet.import_key_set(self.jwks()))
                client = self.clients.get(str(hint.claims.get("aud")))
            except (JoseError, ValueError):
                client = None
        session = self._browser_session(environ)
        if session is not None:
            with self._lock:
                self._sessions = {k: s for k, s in self._sessions.items() if s is not session}
            others = session.clients - {client.client_id} if client else session.clients
            self._deliver_logouts([(session, others)])
        target = query.get("post_logout_redirect_uri", "")
        expired = f"{self._cookie_name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        if target:
            if client is None or target not in client.post_logout_redirect_uris:
                raise self._error_page("The post_logout_redirect_uri is not registered.")
            location = add_query(target, {"state": query["state"]} if "state" in query else {})
            raise Answer(302, b"", [("Location", location), ("Set-Cookie", expired)])
        body = pages.message_page(
            banner=self._banner,
            title="You are signed out",
            message="You have signed out of the simulated provider.",
            stylesheet_url=self._stylesheet_url(),
        )
        raise self._html(200, body, [("Set-Cookie", expired)])

    def sign_out_everywhere(self, *, sub: str = "", username: str = "") -> list[dict[str, Any]]:
        """End every session of the user (by sub or username) and send each service they signed
        in to a logout token per session (Back-Channel Logout 1.0). Returns the deliveries."""
        user = self.users.get(username) or next(
            (u for u in self.users.values() if u.sub == sub), None
        )
        if user is None:
            raise KeyError("no such user")
        with self._lock:
            ended = [s for s in self._sessions.values() if s.username == user.username]
            self._sessions = {k: s for k, s in self._sessions.items() if s not in ended}
        return self._deliver_logouts([(session, session.clients) for session in ended])

    def _deliver_logouts(
        self, sessions: list[tuple[ProviderSession, set[str]]]
    ) -> list[dict[str, Any]]:
        deliveries = []
        for session, client_ids in sessions:
            user = self.users[session.username]
            for client_id in sorted(client_ids):
                client = self.clients.get(client_id)
                if client is None or not client.backchannel_logout_uri:
                    continue
                delivery: dict[str, Any] = {
                    "client_id": client_id,
                    "uri": client.backchannel_logout_uri,
                    "sid": session.sid,
                    "sub": user.sub,
                    "status": None,
                    "error": "",
                }
                try:
                    response = requests.post(
                        client.backchannel_logout_uri,
                        data={"logout_token": self.logout_token(client_id, user.sub, session.sid)},
                        timeout=5,
                    )
                    delivery["status"] = response.status_code
                except requests.RequestException as error:
                    delivery["error"] = str(error)
                logger.info("identity provider: back-channel logout %s", delivery)
                deliveries.append(delivery)
        return deliveries

    def logout_token(self, client_id: str, sub: str, sid: str) -> str:
        """A Logout Token (Back-Channel Logout 1.0, section 2.4): no nonce, typ logout+jwt."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": client_id,
            "iat": now,
            "exp": now + 120,
            "jti": secrets.token_urlsafe(16),
            "sub": sub,
            "sid": sid,
            "events": {BACKCHANNEL_EVENT: {}},
        }
        header = {"alg": "RS256", "kid": self.key.kid, "typ": "logout+jwt"}
        return jwt.encode(header, claims, self.key)

    # Simulator controls ------------------------------------------------------------------------
    def _simulator(self, method: str, name: str, environ: dict[str, Any]) -> None:
        if name == "style.css" and method == "GET":
            raise Answer(200, pages.STYLESHEET, [("Content-Type", "text/css")])
        if name == "faults" and method == "POST":
            fault = json_body(environ).get("fault", "")
            if fault not in FAULTS:
                raise Answer(400, {"error": f"unknown fault {fault!r}", "known": sorted(FAULTS)})
            self.fault_next_token(fault)
            raise Answer(200, {"fault": fault})
        if name == "logout" and method == "POST":
            body = json_body(environ)
            try:
                deliveries = self.sign_out_everywhere(
                    sub=str(body.get("sub", "")), username=str(body.get("username", ""))
                )
            except KeyError:
                raise Answer(404, {"error": "no such user"}) from None
            raise Answer(200, {"deliveries": deliveries})
        if name == "sign-out" and method in ("GET", "POST"):
            session = self._browser_session(environ)
            deliveries = None
            if method == "POST":
                username = form_parameters(environ).get("username", "")
                if username not in self.users:
                    raise self._error_page("Choose a user to sign out.")
                deliveries = self.sign_out_everywhere(username=username)
            body = pages.sign_out_page(
                banner=self._banner,
                action=urlsplit(self.issuer).path + "/simulator/sign-out",
                users=list(self.users.values()),
                signed_in_as=session.username if session else "",
                deliveries=deliveries,
                stylesheet_url=self._stylesheet_url(),
            )
            raise self._html(200, body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=PROFILES, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--redirect-uri", action="append", required=True)
    parser.add_argument("--backchannel-logout-uri", default="")
    parser.add_argument("--client-jwks-uri", default="", help="fetched at each token request")
    parser.add_argument("--client-jwks", default="", help="a file holding the client's public JWKS")
    parser.add_argument("--client-secret", default="")
    parser.add_argument("--post-logout-redirect-uri", action="append", default=[])
    parser.add_argument("--tenant-id", default=DEFAULT_TENANT_ID)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--patients", type=int, default=500)
    parser.add_argument("--log-level", default="INFO")
    options = parser.parse_args(argv)
    logging.basicConfig(level=options.log_level, format="%(asctime)s %(name)s %(message)s")
    population = generate(seed=options.seed, patients=options.patients)
    client = RegisteredClient(
        client_id=options.client_id,
        redirect_uris=options.redirect_uri,
        post_logout_redirect_uris=options.post_logout_redirect_uri,
        backchannel_logout_uri=options.backchannel_logout_uri,
        jwks_uri=options.client_jwks_uri,
        jwks=json.loads(Path(options.client_jwks).read_text()) if options.client_jwks else None,
        client_secret=options.client_secret,
    )
    provider = SimulatedIdentityProvider(
        options.host,
        options.port,
        profile=options.profile,
        users=demo_users(options.profile, population),
        clients=[client],
        tenant_id=options.tenant_id,
    ).start()
    print(f"identity provider {options.profile} (simulated) {provider.issuer}", flush=True)
    serve_until_signalled(provider)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
