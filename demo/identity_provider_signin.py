"""The browser's side of the simulated identity providers (demo/identity_provider.py): the
authorization endpoint's sign-in journey (sign-in form, CIS2's role choice, the code sent back to
the client, errors redirected or shown as the specs say) and the provider's own browser sessions.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlsplit

from demo import identity_provider_pages as pages
from demo.identity_provider_users import IdentityProviderUser, RegisteredClient
from demo.identity_provider_wsgi import (
    Answer,
    add_query,
    form_parameters,
    query_parameters,
    redirect,
)

CODE_LIFETIME = 60  # seconds: codes are for an immediate exchange (RFC 6749 4.1.2: 10 min max)
# CIS2's ACR values, weakest first, with the authentication assurance level each needs.
CIS2_ACR_LEVELS = {"AAL1_USERPASS": 1, "AAL2_ANY": 2, "AAL2_OR_AAL3_ANY": 2, "AAL3_ANY": 3}
# The two ways CIS2 offers here: (assurance level, amr per RFC 8176).
CIS2_METHODS = {"smartcard": (3, ["sc", "pin"]), "security-key": (2, ["pwd", "hwk"])}


@dataclass
class ProviderSession:
    """The provider's own sign-in session for one browser: one `sid` per sign-in."""

    sid: str
    username: str
    auth_time: int
    level: int
    amr: list[str]
    clients: set[str] = field(default_factory=set)


@dataclass
class Grant:
    """What an authorization code or an access token stands for."""

    client_id: str
    redirect_uri: str
    username: str
    scope: str
    nonce: str | None
    code_challenge: str
    sid: str
    acr: str
    role: dict | None
    expires: float
    no_roles: bool = False


class SignInJourney:
    """The authorization endpoint and browser sessions, mixed into SimulatedIdentityProvider
    (which gives the attributes below, its issuer and its endpoint paths)."""

    profile: str
    users: dict[str, IdentityProviderUser]
    clients: dict[str, RegisteredClient]
    _lock: threading.Lock
    _pending: dict[str, dict[str, str]]
    _sessions: dict[str, ProviderSession]
    _codes: dict[str, Grant]
    _server: Any
    issuer: str

    def _paths(self) -> dict[str, str]:
        raise NotImplementedError

    # Pages -------------------------------------------------------------------------------------
    @property
    def _banner(self) -> str:
        if self.profile == "cis2":
            return (
                "SIMULATION of NHS CIS2 Authentication for this demo. This is not the real CIS2: "
                "the users below are synthetic and their passwords are published."
            )
        if self.profile == "nhs-login":
            return (
                "SIMULATION of NHS login for this demo. This is not the real NHS login: the "
                "patients below are synthetic, their passwords are published, and no real "
                "person's identity is checked here."
            )
        return (
            "SIMULATION of the council's sign-in (Microsoft Entra ID) for this demo. This is not "
            "a real council account: the users below are synthetic and their passwords published."
        )

    def _stylesheet_url(self) -> str:
        return urlsplit(self.issuer).path + "/simulator/style.css"

    def _html(self, status: int, body: bytes, headers: list[tuple[str, str]] | None = None):
        # no-store: sign-in pages must not be kept by the browser or a proxy
        return Answer(status, body, [("Cache-Control", "no-store"), *(headers or [])])

    def _error_page(self, message: str) -> Answer:
        body = pages.error_page(
            banner=self._banner, message=message, stylesheet_url=self._stylesheet_url()
        )
        return self._html(400, body)

    # Authorization endpoint --------------------------------------------------------------------
    def _authorize(self, method: str, environ: dict[str, Any]) -> None:
        if method == "GET":
            self._authorization_request(query_parameters(environ), environ)
        if method == "POST":
            form = form_parameters(environ)
            with self._lock:
                request = self._pending.get(form.get("request", ""))
            if request is None:
                raise self._error_page("This sign-in has expired or is unknown: start again.")
            if form.get("action") == "cancel":
                self._finish_with_error(form["request"], "access_denied", "the user cancelled")
            if form.get("action") == "select-role":
                self._select_role(form["request"], request, form.get("role", ""))
            self._sign_in(form["request"], request, form, environ)
        raise Answer(405, {"error": "method_not_allowed"})

    def _authorization_request(self, query: dict[str, str], environ: dict[str, Any]) -> None:
        """Checks in the order OpenID Connect Core 3.1.2.6 and RFC 6749 4.1.2.1 give: a bad
        client or redirect_uri is shown to the user, never redirected to."""
        client = self.clients.get(query.get("client_id", ""))
        if client is None:
            raise self._error_page("Unknown client_id: this service is not registered here.")
        redirect_uri = query.get("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise self._error_page("The redirect_uri is not one registered for this client.")
        state = query.get("state")

        def refuse(error: str, description: str) -> None:
            raise redirect(self._error_location(redirect_uri, state, error, description))

        if query.get("response_type") != "code":
            refuse("unsupported_response_type", "only response_type=code is supported")
        if "openid" not in query.get("scope", "").split():
            refuse("invalid_scope", "scope must include openid")
        challenge = query.get("code_challenge", "")
        if not challenge:
            refuse("invalid_request", "code_challenge is required (PKCE)")
        if query.get("code_challenge_method") != "S256":
            refuse("invalid_request", "code_challenge_method must be S256")
        if not 43 <= len(challenge) <= 128:
            refuse("invalid_request", "code_challenge is not a base64url SHA-256")
        requested_acr = query.get("acr_values", "").split()
        if self.profile == "cis2" and any(v not in CIS2_ACR_LEVELS for v in requested_acr):
            refuse("invalid_request", "unknown acr_values")
        request_id = secrets.token_urlsafe(16)
        request = {
            "client_id": client.client_id,
            "redirect_uri": redirect_uri,
            "scope": query["scope"],
            "state": state if state is not None else "",
            "has_state": "1" if state is not None else "",
            "nonce": query.get("nonce", ""),
            "has_nonce": "1" if "nonce" in query else "",
            "code_challenge": challenge,
            "acr_values": " ".join(requested_acr),
        }
        with self._lock:
            self._pending[request_id] = request
        prompt = query.get("prompt", "").split()
        session = self._browser_session(environ)
        if session is not None and "login" not in prompt:
            self._after_authentication(request_id, request, session)
        if "none" in prompt:
            self._finish_with_error(request_id, "login_required", "the user is not signed in")
        raise self._sign_in_form(request_id)

    def _sign_in_form(self, request_id: str, error: str = "", username: str = "") -> Answer:
        title = "Sign in with NHS CIS2 (simulated)"
        if self.profile == "council":
            title = "Sign in to the council (simulated)"
        if self.profile == "nhs-login":
            title = "Continue with NHS login (simulated)"
        body = pages.sign_in_page(
            profile=self.profile,
            banner=self._banner,
            title=title,
            action=self._paths()["authorization_endpoint"],
            request_id=request_id,
            users=list(self.users.values()),
            error=error,
            username=username,
            stylesheet_url=self._stylesheet_url(),
        )
        return self._html(401 if error else 200, body)

    def _sign_in(
        self, request_id: str, request: dict[str, str], form: dict, environ: dict[str, Any]
    ) -> None:
        user = self.users.get(form.get("username", ""))
        if user is None or not secrets.compare_digest(user.password, form.get("password", "")):
            raise self._sign_in_form(
                request_id, "Wrong username or password.", form.get("username", "")
            )
        if self.profile == "cis2":
            level, amr = CIS2_METHODS.get(form.get("method", ""), CIS2_METHODS["security-key"])
            if self._acr_for(request, level) is None:
                raise self._sign_in_form(
                    request_id,
                    "This service asks for a smartcard (AAL3): sign in with your smartcard.",
                    user.username,
                )
        else:
            level, amr = 2, ["pwd", "mfa"]
        session = ProviderSession(
            secrets.token_urlsafe(16), user.username, int(time.time()), level, amr
        )
        cookie_value = secrets.token_urlsafe(24)
        with self._lock:
            self._sessions[cookie_value] = session
        cookie = f"{self._cookie_name}={cookie_value}; Path=/; HttpOnly; SameSite=Lax"
        self._after_authentication(request_id, request, session, [("Set-Cookie", cookie)])

    def _acr_for(self, request: dict[str, str], level: int) -> str | None:
        """The first requested ACR value this sign-in's level meets (CIS2 echoes the one met),
        or the level's own when none was asked; None when none asked for is met."""
        requested = request["acr_values"].split()
        if not requested:
            return "AAL3_ANY" if level >= 3 else "AAL2_ANY"
        return next((v for v in requested if CIS2_ACR_LEVELS[v] <= level), None)

    def _after_authentication(
        self,
        request_id: str,
        request: dict[str, str],
        session: ProviderSession,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        user = self.users[session.username]
        with self._lock:
            request["session"] = session.sid
        if self.profile == "cis2" and len(user.roles) > 1:
            body = pages.role_page(
                banner=self._banner,
                action=self._paths()["authorization_endpoint"],
                request_id=request_id,
                roles=user.roles,
                stylesheet_url=self._stylesheet_url(),
            )
            raise self._html(200, body, headers)
        role = user.roles[0] if self.profile == "cis2" and user.roles else None
        self._issue_code(request_id, request, role, headers)

    def _select_role(self, request_id: str, request: dict[str, str], role_id: str) -> None:
        session = self._session_by_sid(request.get("session", ""))
        if session is None:
            raise self._error_page("This sign-in has expired: start again.")
        user = self.users[session.username]
        role = next((r for r in user.roles if r["person_roleid"] == role_id), None)
        if role is None:
            raise self._error_page("That role is not one of yours.")
        self._issue_code(request_id, request, role)

    def _issue_code(
        self,
        request_id: str,
        request: dict[str, str],
        role: dict | None,
        headers: list[tuple[str, str]] | None = None,
    ) -> None:
        session = self._session_by_sid(request["session"])
        if session is None:
            raise self._error_page("This sign-in has expired: start again.")
        acr = self._acr_for(request, session.level) if self.profile == "cis2" else ""
        if acr is None:  # an existing session weaker than this request asks for
            with self._lock:
                self._sessions = {k: s for k, s in self._sessions.items() if s is not session}
            raise self._sign_in_form(request_id, "This service asks for a smartcard (AAL3).")
        code = secrets.token_urlsafe(32)
        grant = Grant(
            client_id=request["client_id"],
            redirect_uri=request["redirect_uri"],
            username=session.username,
            scope=request["scope"],
            nonce=request["nonce"] if request["has_nonce"] else None,
            code_challenge=request["code_challenge"],
            sid=session.sid,
            acr=acr,
            role=role,
            expires=time.time() + CODE_LIFETIME,
        )
        with self._lock:
            self._pending.pop(request_id, None)
            self._codes[code] = grant
            session.clients.add(request["client_id"])
        parameters = {"code": code}
        if request["has_state"]:
            parameters["state"] = request["state"]
        parameters["iss"] = self.issuer  # RFC 9207: says which provider answered
        raise Answer(
            302,
            b"",
            [("Location", add_query(request["redirect_uri"], parameters)), *(headers or [])],
        )

    def _finish_with_error(self, request_id: str, error: str, description: str) -> None:
        with self._lock:
            request = self._pending.pop(request_id)
        state = request["state"] if request["has_state"] else None
        raise redirect(self._error_location(request["redirect_uri"], state, error, description))

    def _error_location(self, redirect_uri: str, state: str | None, error: str, description: str):
        parameters = {"error": error, "error_description": description}
        if state is not None:
            parameters["state"] = state
        parameters["iss"] = self.issuer
        return add_query(redirect_uri, parameters)

    @property
    def _cookie_name(self) -> str:
        # Cookies ignore the port: two providers on one loopback host need names of their own.
        return f"simulated_idp_{self.profile}_{self._server.server_port if self._server else 0}"

    def _browser_session(self, environ: dict[str, Any]) -> ProviderSession | None:
        cookie = SimpleCookie(environ.get("HTTP_COOKIE", ""))
        morsel = cookie.get(self._cookie_name)
        with self._lock:
            return self._sessions.get(morsel.value) if morsel else None

    def _session_by_sid(self, sid: str) -> ProviderSession | None:
        with self._lock:
            return next((s for s in self._sessions.values() if s.sid == sid), None)
