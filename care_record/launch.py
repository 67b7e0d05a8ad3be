"""Opening a patient's record from a clinical system (SMART App Launch 2.x, EHR launch): the
launch page and its way back. Thin: the SMART steps are care_record/smart_launch.py's.

The launch ends on the record page only if the policy lets the user see that patient now;
otherwise it answers exactly as the record page does for a patient the user may not see. It
reads no record and writes no access event: the record page does both when it opens.
"""

import logging
import time

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from access.exceptions import AccessDenied
from access.models import ClinicalSystem
from access.policy import decide
from access.web import actor_from_request, memberships_of
from care_record.smart_launch import (
    MAX_PARAMETER_LENGTH,
    PENDING_LIMIT,
    PENDING_SECONDS,
    LaunchFailed,
    PendingLaunch,
    authorisation_url,
    launched_nhs_number,
    registered_system,
)
from records.models import Patient, SupersededNhsNumber
from records.selectors import current_patient

logger = logging.getLogger(__name__)

SESSION_PENDING = "lcr_smart_launches"
TEMPLATE = "care_record/launch_failed.html"


@never_cache
@require_GET
def launch(request: HttpRequest) -> HttpResponse:
    """The clinical system's button lands here (`?iss=&launch=`), after sign-in if need be
    (LoginRequiredMiddleware keeps this address, query and all, as `next`)."""
    iss, launch_id = request.GET.get("iss", ""), request.GET.get("launch", "")
    if not iss or not launch_id or len(launch_id) > MAX_PARAMETER_LENGTH:
        return _failed(
            request,
            LaunchFailed(
                "The clinical system opened this page without saying which system it is or "
                "which launch this is (iss and launch).",
                status=400,
            ),
        )
    system = registered_system(iss)
    if system is None:
        # The address is the caller's to choose: logged, not shown, and never fetched.
        logger.warning("launch refused: unregistered iss %r", iss[:200])
        return render(request, "care_record/launch_not_registered.html", status=400)
    if actor_from_request(request).team is None and len(memberships_of(request)) > 1:
        # Before the clinical system is asked anything: its launch is still good once chosen.
        return render(request, "care_record/launch_choose_team.html", {"system": system})
    redirect_uri = request.build_absolute_uri(reverse("launch-callback"))
    try:
        url, state, pending = authorisation_url(
            system, iss=iss, launch=launch_id, redirect_uri=redirect_uri
        )
    except LaunchFailed as failure:
        return _failed(request, failure)
    _keep(request, state, pending)
    return redirect(url)


@never_cache
@require_GET
def launch_callback(request: HttpRequest) -> HttpResponse:
    """The clinical system's answer: the patient in context, then their record if the user may
    see it now, else the ordinary not-found page."""
    pending = _take(request, request.GET.get("state", ""))
    if pending is None:
        return _failed(
            request,
            LaunchFailed(
                "This launch has already been used, has expired, or was not started here. Open "
                "the shared care record again from the clinical system.",
                status=400,
            ),
        )
    system = ClinicalSystem.objects.filter(pk=pending.system_id, active=True).first()
    if system is None:
        return _failed(
            request,
            LaunchFailed(
                "The clinical system that started this launch is no longer allowed to open the "
                "record.",
                status=400,
            ),
        )
    if "error" in request.GET:
        return _failed(request, _refused_by(system, request.GET))
    code = request.GET.get("code", "")
    if not code or len(code) > MAX_PARAMETER_LENGTH:
        problem = f"{system.name} came back without an authorisation code."
        return _failed(request, LaunchFailed(problem, system=system))
    redirect_uri = request.build_absolute_uri(reverse("launch-callback"))
    try:
        nhs_number = launched_nhs_number(system, pending, code=code, redirect_uri=redirect_uri)
    except LaunchFailed as failure:
        return _failed(request, failure)
    patient = _patient_with(nhs_number)
    # Unknown and not allowed alike: the record page's own refusal (lcr.middleware), no hint.
    if patient is None or not decide(actor_from_request(request), patient).allowed:
        logger.info("launch from %s: patient not shown to this user", system.name)
        raise AccessDenied("no access to the launched patient")
    return redirect("patient-record", patient_id=patient.pk)


def _patient_with(nhs_number: str) -> Patient | None:
    """The register's patient now known by this NHS number, or by it before PDS superseded it."""
    patient = Patient.objects.current().filter(nhs_number=nhs_number).first()
    if patient is None:
        old = SupersededNhsNumber.objects.filter(nhs_number=nhs_number).select_related("patient")
        found = old.first()
        patient = current_patient(found.patient) if found is not None else None
    return patient


def _refused_by(system: ClinicalSystem, answer) -> LaunchFailed:
    error = answer.get("error", "")[:100]
    description = answer.get("error_description", "")[:300]
    said = f"{error}: {description}" if description else error
    if error == "access_denied":
        return LaunchFailed(
            f"{system.name} did not allow the shared care record to open ({said}).",
            status=400,
            system=system,
        )
    return LaunchFailed(f"{system.name} refused the launch ({said}).", status=400, system=system)


def _keep(request: HttpRequest, state: str, pending: PendingLaunch) -> None:
    """Keep a launch for its way back under its state, with the few others still fresh."""
    launches = _fresh(request.session.get(SESSION_PENDING, {}))
    launches[state] = pending.as_session()
    newest = sorted(launches.items(), key=lambda item: item[1]["started_at"])[-PENDING_LIMIT:]
    request.session[SESSION_PENDING] = dict(newest)


def _take(request: HttpRequest, state: str) -> PendingLaunch | None:
    """The launch this state names, removed at once: a state is good for one way back."""
    launches = _fresh(request.session.get(SESSION_PENDING, {}))
    found = launches.pop(state, None) if state else None
    request.session[SESSION_PENDING] = launches
    return PendingLaunch(**found) if found is not None else None


def _fresh(launches: dict) -> dict:
    oldest = time.time() - PENDING_SECONDS
    return {state: data for state, data in launches.items() if data["started_at"] > oldest}


def _failed(request: HttpRequest, failure: LaunchFailed) -> HttpResponse:
    logger.info("launch failed (%d): %s", failure.status, failure.problem)
    return render(
        request,
        TEMPLATE,
        {"system": failure.system, "problem": failure.problem},
        status=failure.status,
    )
