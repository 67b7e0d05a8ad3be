"""A patient's session in their own part of the portal, kept apart from staff sign-in.

A patient signed in through NHS login is not a user here: the session holds their record's id
under its own key (PATIENT_SESSION) and Django's `request.user` stays anonymous. So deny by
default holds twice over: every staff page and API still asks for a signed-in user
(LoginRequiredMiddleware, DRF's authentication) and finds none; and the patients' pages,
exempt from that middleware, each pass `patient_required`, which opens only with a live patient
session and never for someone signed in as staff. Sessions time out as staff's do.
"""

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from access.services.patient_sign_in import SignedInPatient
from records.models import Patient

PATIENT_SESSION = "lcr_patient"
# Activity is stamped (and the session saved) at most this often, as for staff.
ACTIVITY_STAMP_SECONDS = 60


@dataclass(frozen=True)
class PatientVisitor:
    """The patient this request is from: their record, and whom NHS login signed in."""

    patient: Patient
    subject: str
    provider: str


def start_patient_session(request: HttpRequest, signed_in: SignedInPatient, provider: str) -> None:
    """The patient's session, under a new session key (no fixation), holding nothing of staff."""
    for key in list(request.session.keys()):
        del request.session[key]
    request.session.cycle_key()
    now = time.time()
    request.session[PATIENT_SESSION] = {
        "patient_id": signed_in.patient.pk,
        "subject": signed_in.subject,
        "provider": provider,
        "signed_in_at": now,
        "last_activity": now,
    }


def end_patient_session(request: HttpRequest) -> None:
    request.session.flush()


def patient_visitor(request: HttpRequest) -> tuple[PatientVisitor | None, str]:
    """The signed-in patient, or None and why not ("" when nobody was signed in)."""
    state = request.session.get(PATIENT_SESSION)
    if not isinstance(state, dict):
        return None, ""
    now = time.time()
    idle = now - float(state.get("last_activity", 0)) > settings.LCR_SESSION_IDLE_MINUTES * 60
    too_long = now - float(state.get("signed_in_at", 0)) > settings.LCR_SESSION_MAX_HOURS * 3600
    if idle or too_long:
        end_patient_session(request)
        if idle:
            return None, (
                f"You were signed out after {settings.LCR_SESSION_IDLE_MINUTES} minutes without "
                "activity, to keep your information safe."
            )
        return None, "You were signed out because you had been signed in for too long."
    patient = Patient.objects.filter(pk=state.get("patient_id")).first()
    if patient is None:
        end_patient_session(request)
        return None, ""
    if now - float(state["last_activity"]) >= ACTIVITY_STAMP_SECONDS:
        request.session[PATIENT_SESSION] = {**state, "last_activity": now}
    return PatientVisitor(patient, str(state.get("subject", "")), str(state.get("provider"))), ""


def patient_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A patients' page: exempt from staff sign-in, open only to a signed-in patient (the view
    receives them as its second argument). Staff get the not-found page, whoever they are;
    anyone else goes to the patients' sign-in."""

    @login_not_required
    @never_cache
    @functools.wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.user.is_authenticated:
            return render(request, "404.html", status=404)
        visitor, why = patient_visitor(request)
        if visitor is None:
            if why:
                messages.info(request, why)
            query = urlencode({"next": request.get_full_path()})
            return redirect(f"{reverse('patient-sign-in')}?{query}")
        return view(request, visitor, *args, **kwargs)

    return guarded


@receiver(user_logged_in)
def forget_patient_on_staff_sign_in(sender, request, user, **kwargs) -> None:
    """Someone signing in as staff in a browser a patient used is not that patient any more."""
    if request is not None and hasattr(request, "session"):
        request.session.pop(PATIENT_SESSION, None)
