"""Sign-in safety around Django's own sign-in: lockout after repeated failures (django-axes), a
second factor for administrators, privacy officers and staff (django-otp), and idle and absolute
session limits.
"""

import time
from collections.abc import Callable
from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_out
from django.contrib.auth.views import redirect_to_login
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect
from django_otp.plugins.otp_totp.models import TOTPDevice

from access.models import Membership, Role, SignInSession
from access.web import memberships_of

# Roles whose holders must prove a second factor: they change who may see records, or read the
# trail of who looked.
SECOND_FACTOR_ROLES = (Role.ADMINISTRATOR, Role.PRIVACY_OFFICER)
# Pages a signed-in user reaches before their second factor: everything else waits for it.
BEFORE_SECOND_FACTOR = {"login", "logout", "two-factor", "two-factor-setup", "health", "ready"}
# Set at sign-in through an identity provider: the authentication assurance level it vouched for.
# Level 3 (a smartcard or an equivalent) is two factors already, proved to the provider.
SESSION_ASSURANCE = "lcr_sign_in_assurance"
SESSION_SIGNED_IN_AT = "lcr_signed_in_at"
SESSION_LAST_ACTIVITY = "lcr_last_activity"
# Activity is stamped (and the session saved) at most this often: a page read writes nothing. The
# idle limit is then kept to within this much, on the early side.
ACTIVITY_STAMP_SECONDS = 60


class LockoutBackend(AxesStandaloneBackend):
    """Axes' lockout check for sign-in through the web. Authentication without a request (the
    test client's login, management commands) has no address to lock out and is not a web
    sign-in attempt, so it is left to the next backend instead of being refused outright."""

    def authenticate(self, request: HttpRequest | None, *args, **kwargs) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def needs_second_factor(
    user: AbstractBaseUser, memberships: list[Membership] | None = None
) -> bool:
    """Staff (whoever reaches the Django admin, which shows the register: the identity reviewer
    too), superusers, and anyone holding an administrator's or privacy officer's role in any team
    (`memberships`: all the user's, when the caller has read them already)."""
    if user.is_staff or user.is_superuser:
        return True
    if memberships is not None:
        return any(m.role in SECOND_FACTOR_ROLES for m in memberships)
    return Membership.objects.filter(user=user, role__in=SECOND_FACTOR_ROLES).exists()


def has_confirmed_device(user: AbstractBaseUser) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """Axes' answer to a locked-out sign-in: the sign-in page, saying why and for how long, and
    nothing about whether the account exists."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = (
        f"You have tried to sign in too many times. Wait {minutes} minutes and try again, "
        "or ask your administrator to unlock your account."
    )
    return render(
        request,
        "registration/login.html",
        {"form": AuthenticationForm(request), "locked_out": message, "next": ""},
        status=429,
    )


class SecondFactorRequired:
    """Administrators, privacy officers and staff see nothing but the sign-in and two-factor pages
    until they have proved their second factor in this session (after OTPMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        user = request.user
        if not user.is_authenticated or user.is_verified():
            return None
        if request.session.get(SESSION_ASSURANCE, 0) >= 3:
            return None
        if request.resolver_match.url_name in BEFORE_SECOND_FACTOR:
            return None
        if not needs_second_factor(user, memberships_of(request)):
            return None
        target = "two-factor" if has_confirmed_device(user) else "two-factor-setup"
        return redirect_to_login(request.get_full_path(), login_url=reverse(target))


class SessionTimeouts:
    """Sign out after LCR_SESSION_IDLE_MINUTES without activity, and LCR_SESSION_MAX_HOURS after
    signing in whatever the activity. A record page's live updates (its event stream, or its
    htmx-named poll) are not activity: a screen left open on a record must still time out."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.idle = timedelta(minutes=settings.LCR_SESSION_IDLE_MINUTES).total_seconds()
        self.absolute = timedelta(hours=settings.LCR_SESSION_MAX_HOURS).total_seconds()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.user.is_authenticated:
            return self.get_response(request)
        now = time.time()
        session = request.session
        if SESSION_SIGNED_IN_AT not in session:
            # Django sets last_login as it signs someone in: the session starts then.
            last_login = request.user.last_login
            session[SESSION_SIGNED_IN_AT] = last_login.timestamp() if last_login else now
        signed_in_at = session[SESSION_SIGNED_IN_AT]
        last_activity = session.get(SESSION_LAST_ACTIVITY, signed_in_at)
        if now - last_activity > self.idle or now - signed_in_at > self.absolute:
            idle = now - last_activity > self.idle
            logout(request)
            messages.info(
                request,
                f"You were signed out after {settings.LCR_SESSION_IDLE_MINUTES} minutes without "
                "activity."
                if idle
                else "You were signed out because you have been signed in for too long.",
            )
            login_url = redirect_to_login(request.get_full_path())["Location"]
            if getattr(request, "htmx", False):
                return HttpResponseClientRedirect(login_url)
            return redirect(login_url)
        # A record page's live updates (an htmx-named poll, or its event stream) are not the
        # reader's activity either.
        polling = request.method == "GET" and (
            bool(getattr(request, "htmx", False))
            or "text/event-stream" in request.headers.get("Accept", "")
        )
        if not polling and now - last_activity >= ACTIVITY_STAMP_SECONDS:
            session[SESSION_LAST_ACTIVITY] = now
        return self.get_response(request)


@receiver(user_logged_out)
def forget_signed_in_session(sender, request, user, **kwargs) -> None:
    """However a session ends by signing out (the button, a timeout), its row goes with it (here,
    where every process loads it: the middleware's module)."""
    if request is not None and request.session.session_key:
        SignInSession.objects.filter(session_key=request.session.session_key).delete()
