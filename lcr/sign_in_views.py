"""The sign-in pages: the choice of identity provider (and the break-glass administrator's
password, where it is switched on), the way back from a provider, the page for a role this
service does not know, sign-out (here and at the provider), back-channel logout and our JWKS.
"""

import logging

from django import forms
from django.conf import settings
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.validators import MaxLengthValidator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from access.exceptions import SignInRefused
from access.models import IdentityProvider, SignInSession
from access.services.sessions import end_sessions
from access.services.sign_in import sign_in_with_claims
from access.web import SESSION_TEAM
from lcr import oidc
from lcr.signin import SESSION_ASSURANCE

logger = logging.getLogger(__name__)

SESSION_PROVIDER = "lcr_identity_provider"
SESSION_ID_TOKEN = "lcr_id_token"  # noqa: S105 (a session key's name, not a secret)
SESSION_ROLE = "lcr_provider_role"
SESSION_NEXT = "lcr_sign_in_next"
SIGNED_OUT = "signed-out"  # in the sign-in page's address after signing out: it says so


class PasswordSignInForm(AuthenticationForm):
    """Django's sign-in form, for whom settings.LCR_PASSWORD_SIGN_IN lets in: nobody, the
    break-glass administrator (a superuser; the second factor follows), or everyone (trials and
    tests). Refused with the same words as a wrong password: nothing says the account exists."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].error_messages["required"] = "Enter your username"
        self.fields["password"].error_messages["required"] = "Enter your password"
        # Django sets the field's max_length after building it, so nothing checks it; a longer
        # name would reach authenticate(), and axes' record of the failed try (a column of 255).
        longest = self.fields["username"].max_length
        self.fields["username"].validators.append(
            MaxLengthValidator(longest, f"A username has at most {longest} characters")
        )

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        mode = settings.LCR_PASSWORD_SIGN_IN
        if mode == "everyone" or (mode == "break-glass" and user.is_superuser):
            return
        raise forms.ValidationError(
            self.error_messages["invalid_login"],
            code="invalid_login",
            params={"username": self.username_field.verbose_name},
        )


class SignInPage(LoginView):
    """The sign-in page: a button per active identity provider, and the password form only where
    password sign-in is switched on."""

    authentication_form = PasswordSignInForm
    redirect_authenticated_user = True

    def get_context_data(self, **kwargs) -> dict:
        context = super().get_context_data(**kwargs)
        staff_providers = IdentityProvider.objects.filter(active=True, for_patients=False)
        context["providers"] = list(staff_providers)
        context["password_sign_in"] = settings.LCR_PASSWORD_SIGN_IN
        context["signed_out"] = SIGNED_OUT in self.request.GET
        return context

    def post(self, request, *args, **kwargs):
        if settings.LCR_PASSWORD_SIGN_IN == "off":  # noqa: S105 (a setting's value)
            return redirect("login")
        return super().post(request, *args, **kwargs)


def _provider(slug: str) -> IdentityProvider:
    # A patients' provider (NHS login) never signs anyone in as staff.
    provider = IdentityProvider.objects.filter(slug=slug, active=True, for_patients=False).first()
    if provider is None:
        raise Http404
    return provider


def _failed(request: HttpRequest, provider: IdentityProvider | None, message: str, status: int):
    return render(
        request,
        "registration/sign_in_failed.html",
        {"provider": provider, "message": message},
        status=status,
    )


@login_not_required
@never_cache
def begin(request: HttpRequest, slug: str) -> HttpResponse:
    """Off to the provider; where to go afterwards is kept in the session, checked."""
    provider = _provider(slug)
    wanted = request.GET.get("next", "")
    if url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        request.session[SESSION_NEXT] = wanted
    redirect_uri = request.build_absolute_uri(reverse("sign-in-callback", args=[slug]))
    try:
        return oidc.authorisation_redirect(request, provider, redirect_uri)
    except oidc.SignInFailed as failure:
        return _failed(request, provider, failure.message, failure.status)


@login_not_required
@never_cache
def callback(request: HttpRequest, slug: str) -> HttpResponse:
    """The way back: every check passed, or a page saying which failed and no session."""
    provider = _provider(slug)
    try:
        claims, token = oidc.verified_claims(request, provider)
        signed_in = sign_in_with_claims(provider=provider, claims=claims)
    except oidc.SignInFailed as failure:
        _end_half_signed_in(request)
        return _failed(request, provider, failure.message, failure.status)
    except SignInRefused as refusal:
        logger.info("sign-in: %s refused %s", provider.slug, refusal.code)
        _end_half_signed_in(request)
        return _failed(request, provider, refusal.message, 403)
    after = request.session.get(SESSION_NEXT) or reverse("home")
    login(request, signed_in.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session[SESSION_PROVIDER] = provider.slug
    request.session[SESSION_ASSURANCE] = signed_in.assurance
    request.session[SESSION_ID_TOKEN] = token.get("id_token", "")
    if signed_in.role is not None:
        role = signed_in.role
        request.session[SESSION_ROLE] = [role.organisation, role.code, role.name]
    if len(signed_in.mappings) == 1:
        request.session[SESSION_TEAM] = signed_in.mappings[0].team_id
    request.session.save()
    SignInSession.objects.create(
        user=signed_in.user,
        provider=provider,
        sid=str(claims.get("sid") or "")[:255],
        session_key=request.session.session_key,
        assurance=signed_in.assurance,
        role_mapping=signed_in.mappings[0] if signed_in.mappings else None,
    )
    # (Staff, such as the identity reviewer, work in no team: their pages are the identity
    # reviews and the admin, not a role's.)
    if not signed_in.mapped and not signed_in.user.is_staff:
        return redirect("sign-in-no-role")
    return redirect(after)


def _end_half_signed_in(request: HttpRequest) -> None:
    """A failed sign-in leaves nobody signed in, whoever was before."""
    if request.user.is_authenticated:
        logout(request)


@never_cache
def no_role(request: HttpRequest) -> HttpResponse:
    """Signed in, in a role this service has no mapping for: who to ask, and nothing else."""
    role = request.session.get(SESSION_ROLE)
    return render(
        request,
        "registration/no_role.html",
        {"role": role, "help": settings.LCR_SIGN_IN_HELP},
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """Signed out here, then at the provider too (RP-initiated logout) when it was used."""
    slug = request.session.get(SESSION_PROVIDER)
    id_token = request.session.get(SESSION_ID_TOKEN, "")
    logout(request)
    after = request.build_absolute_uri(f"{reverse('login')}?{SIGNED_OUT}")
    provider = IdentityProvider.objects.filter(slug=slug).first() if slug else None
    if provider is not None:
        there = oidc.end_session_redirect(provider, id_token, after)
        if there:
            # A page that goes on to the provider, not a redirect: the page the sign-out form was
            # on allows forms to post only to this origin (CSP form-action), and browsers hold
            # the redirect that follows a form to that too.
            return render(
                request, "registration/signed_out.html", {"provider": provider, "there": there}
            )
    return redirect(f"{reverse('login')}?{SIGNED_OUT}")


@csrf_exempt  # the provider posts this itself: there is no browser, and so no cookie to ride on
@login_not_required
@require_POST
def backchannel_logout(request: HttpRequest, slug: str) -> HttpResponse:
    """OpenID Connect Back-Channel Logout: the provider says a session (sid) or every session of
    a user (sub) has ended; those sessions end here at once."""
    provider = IdentityProvider.objects.filter(slug=slug).first()
    if provider is None:
        return _logout_error("unknown identity provider", 400)
    token = request.POST.get("logout_token", "")
    if not token:
        return _logout_error("logout_token is missing", 400)
    try:
        claims = oidc.logout_claims(provider, token)
    except oidc.SignInFailed as failure:
        logger.warning("back-channel logout from %s refused: %s", slug, failure.message)
        return _logout_error(failure.message, 400)
    if not cache.add(f"lcr:logout-jti:{slug}:{claims['jti']}", 1, oidc.ASSERTION_SECONDS * 2):
        return _logout_error("logout token already used", 400)
    sessions = SignInSession.objects.filter(provider=provider)
    if claims.get("sid"):
        sessions = sessions.filter(sid=claims["sid"])
    if claims.get("sub"):
        sessions = sessions.filter(
            user__external_identities__provider=provider,
            user__external_identities__subject=claims["sub"],
        )
    ended = end_sessions(sessions)
    logger.info("back-channel logout from %s ended %d session(s)", slug, ended)
    response = HttpResponse(status=200)
    response["Cache-Control"] = "no-store"
    return response


def _logout_error(description: str, status: int) -> JsonResponse:
    response = JsonResponse(
        {"error": "invalid_request", "error_description": description}, status=status
    )
    response["Cache-Control"] = "no-store"
    return response


@login_not_required
def jwks(request: HttpRequest) -> JsonResponse:
    """Our public key, for the providers that check our client assertions."""
    return JsonResponse(oidc.public_key_set())
