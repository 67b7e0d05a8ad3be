"""Patients signing in to their own part of the portal through NHS login (a provider registered
`for_patients`), with the same OpenID Connect client as staff (lcr/oidc.py: discovery, PKCE,
nonce and state, private_key_jwt, the ID token's checks), and signing out.

Who the patient is comes from the ID token alone (its verified `nhs_number` and
`identity_proofing_level`), never from userinfo: access.services.patient_sign_in decides. A
refusal leaves no session, and says plainly what to do next.
"""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from access.exceptions import SignInRefused
from access.models import IdentityProvider
from access.services.patient_sign_in import patient_for_claims
from audit.models import PatientVisit
from audit.patient_questions import record_visit
from audit.request_context import context_from_request
from care_record.patient_sessions import (
    PATIENT_SESSION,
    end_patient_session,
    patient_visitor,
    start_patient_session,
)
from lcr import oidc

logger = logging.getLogger(__name__)

SESSION_PATIENT_NEXT = "lcr_patient_next"
PATIENT_PAGES = "/your-record/"


def _patients_provider() -> IdentityProvider | None:
    return IdentityProvider.objects.filter(for_patients=True, active=True).first()


@login_not_required
@never_cache
def start(request: HttpRequest) -> HttpResponse:
    """What this part of the portal is for, and the NHS login button."""
    visitor, _ = patient_visitor(request)
    if visitor is not None and not request.user.is_authenticated:
        return redirect("patient-home")
    provider = _patients_provider()
    return render(
        request,
        "patient/sign_in.html",
        {
            "provider": provider,
            "next": request.GET.get("next", ""),
            "staff_signed_in": request.user.is_authenticated,
        },
        status=200 if provider else 503,
    )


@login_not_required
@never_cache
def begin(request: HttpRequest) -> HttpResponse:
    """Off to NHS login; not while someone is signed in as staff in this browser (a session is a
    patient's or a member of staff's, never both, and a link must not sign staff out)."""
    provider = _patients_provider()
    if provider is None or request.user.is_authenticated:
        return redirect("patient-sign-in")
    wanted = request.GET.get("next", "")
    if wanted.startswith(PATIENT_PAGES) and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        request.session[SESSION_PATIENT_NEXT] = wanted
    redirect_uri = request.build_absolute_uri(reverse("patient-sign-in-callback"))
    try:
        return oidc.authorisation_redirect(request, provider, redirect_uri)
    except oidc.SignInFailed as failure:
        return _failed(request, failure.message, failure.status)


@login_not_required
@never_cache
def callback(request: HttpRequest) -> HttpResponse:
    """The way back from NHS login: the patient's session, or a page saying why not (and no
    session at all)."""
    if request.user.is_authenticated:
        # Staff are signed in in this browser: a link here must neither sign them out nor mix
        # a patient into their session (beginning refuses this too).
        return redirect("patient-sign-in")
    provider = _patients_provider()
    if provider is None:
        return redirect("patient-sign-in")
    try:
        _, token = oidc.verified_claims(request, provider)
        # The ID token's own claims (Authlib's parse of it, checked): not userinfo's.
        signed_in = patient_for_claims(provider=provider, id_claims=dict(token["userinfo"]))
    except oidc.SignInFailed as failure:
        _forget_patient(request)
        return _failed(request, failure.message, failure.status)
    except SignInRefused as refusal:
        logger.info("patient sign-in refused: %s", refusal.code)
        _forget_patient(request)
        return render(
            request,
            "patient/sign_in_refused.html",
            {
                "code": refusal.code,
                "message": refusal.message,
                "prove_url": settings.LCR_NHS_LOGIN_PROVE_URL,
            },
            status=403,
        )
    after = request.session.get(SESSION_PATIENT_NEXT) or reverse("patient-home")
    start_patient_session(request, signed_in, provider.slug)
    record_visit(
        patient=signed_in.patient,
        action=PatientVisit.Action.SIGNED_IN,
        subject=signed_in.subject,
        context=context_from_request(request),
    )
    return redirect(after)


def _forget_patient(request: HttpRequest) -> None:
    """No patient is signed in after a failed or refused sign-in; nothing else is touched."""
    for key in (PATIENT_SESSION, SESSION_PATIENT_NEXT):
        request.session.pop(key, None)


def _failed(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "patient/sign_in_failed.html", {"message": message}, status=status)


@login_not_required
@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    """Signed out of this part of the portal (NHS login keeps its own session, as it does for
    every service that uses it)."""
    if request.user.is_authenticated:
        return render(request, "404.html", status=404)
    visitor, _ = patient_visitor(request)
    if visitor is not None:
        record_visit(
            patient=visitor.patient,
            action=PatientVisit.Action.SIGNED_OUT,
            subject=visitor.subject,
            context=context_from_request(request),
        )
    end_patient_session(request)
    messages.info(request, "You have signed out.")
    return redirect("patient-sign-in")
