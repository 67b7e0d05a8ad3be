"""Pages that show a patient's record. Thin: who is asking, read_record, render."""

from dataclasses import replace

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from access import services as access_services
from access.exceptions import AccessDenied, EmergencyAccessError
from access.models import BreakGlassAccess
from access.policy import may_break_glass
from access.selectors import PatientQuery, find_my_patients
from access.web import actor_from_request
from audit.models import Channel
from audit.patient_finder import FindForm
from audit.request_context import context_from_request
from audit.services import record_search
from audit.trail_dates import DATE_FORMATS
from care_record.headings import (
    SUMMARY_CATEGORIES,
    categories_of,
    chosen_heading,
    items_to_read,
)
from care_record.reading import LookEnded, read_record
from care_record.updates import record_context, render_update
from records.categories import ALL_CATEGORIES
from records.form_fields import DayMonthYearField, FreeTextField, PlainForm
from records.limits import NHS_NUMBER_INPUT_MAX_LENGTH
from records.models import Patient
from records.nhs_numbers import normalise_nhs_number


def _patient(patient_id: int) -> Patient:
    return get_object_or_404(Patient.objects.current(), pk=patient_id)


def _look_id(value: str) -> int | None:
    return int(value) if value.isascii() and value.isdigit() else None


def _record_url(patient_id: int, heading: str = "") -> str:
    here = reverse("patient-record", args=[patient_id])
    return f"{here}?{urlencode({'heading': heading})}" if heading else here


@never_cache
@vary_on_headers("HX-Request")
@require_http_methods(["GET", "POST"])
def patient_record(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The record: banner, sources' states, the summary, the headings' navigation and the heading
    open (`?heading=`, the timeline first); `?heading=all` draws every heading (print).

    The page fetches each other heading when it is opened (htmx, `?heading=...&look=...`): a read
    continuing the page's look, which writes no access event of its own; a plain GET naming its
    look (the navigation's links, without JavaScript) is drawn within that look too, while it is
    open. While a source is still loading, the page receives the parts that change as they are
    saved (care_record/updates.py), as part of this look. POST asks every source again now (the
    "Refresh now" button); from the page's own button (htmx, naming its look) it is part of that
    look too, and answers with the parts to swap in.
    """
    params = request.POST if request.method == "POST" else request.GET
    look_id = _look_id(params.get("look", ""))
    asked = request.GET.get("heading", "")
    one_heading = request.method == "GET" and bool(request.htmx) and bool(asked)
    if one_heading and look_id is None:
        return HttpResponseBadRequest("Say which look this heading is part of.")
    within_look = look_id is not None and (request.method == "GET" or bool(request.htmx))
    actor = actor_from_request(request)
    patient = _patient(patient_id)
    heading = chosen_heading(asked, ALL_CATEGORIES)
    categories, items = None, items_to_read(heading)
    if request.method == "POST" or (request.htmx and not asked):
        items = SUMMARY_CATEGORIES  # an update: the page fetches again the headings it has drawn
    elif one_heading:
        categories, items = sorted(categories_of(heading) or ()), None  # that heading alone
    try:
        record = read_record(
            actor=actor,
            patient=patient,
            channel=Channel.WEB,
            categories=categories,
            force_refresh=request.method == "POST",
            refresh=not one_heading,
            context=context_from_request(request),
            look_id=look_id if within_look else None,
            items_of=items,
        )
    except LookEnded:
        # An old page's button or heading: a new look, on a page of its own, opening the heading
        # asked for as chosen (never the asked text itself, which could carry other parameters).
        again = _record_url(patient_id, heading if asked else "")
        if request.htmx:
            return HttpResponseClientRedirect(again)
        return redirect(again)
    if request.method == "POST" and not request.htmx:
        return redirect("patient-record", patient_id=patient_id)
    shown = chosen_heading(heading, [view.category for view in record.categories])
    if one_heading and shown != asked:  # not a heading of this record for this reader
        return HttpResponseBadRequest("No such heading in this record.")
    context = record_context(record, shown)
    if one_heading:
        return render(request, "care_record/_record_heading.html", context)
    if request.htmx:
        return HttpResponse(render_update(request, record, None))
    return render(request, "care_record/record.html", context)


class PatientSearchForm(FindForm):
    """Either an NHS number, or a family name with a date of birth (given name and postcode
    narrow it further): the privacy officers' finder's fields, and a postcode."""

    given_name = forms.CharField(label="First name", max_length=100, required=False)
    postcode = forms.CharField(label="Postcode (optional)", max_length=10, required=False)

    def query(self) -> PatientQuery:
        return replace(super().query(), postcode=self.cleaned_data["postcode"].strip())


@never_cache
@require_http_methods(["GET"])
def patient_search(request: HttpRequest) -> HttpResponse:
    """Find someone among the patients the user may see; every search is recorded, whom it found
    too. Roles allowed emergency access are shown the way to it, apart from the results."""
    actor = actor_from_request(request)
    form = PatientSearchForm(request.GET if request.GET else None)
    found = None
    if form.is_bound and form.is_valid():
        query = form.query()
        found = find_my_patients(actor, query)
        for patient in found or [None]:
            record_search(
                user=request.user,
                team=actor.team,
                role=actor.role,
                purpose="find a patient",
                query=str(query),
                found=patient,
                channel=Channel.WEB,
                context=context_from_request(request),
            )
    return render(
        request,
        "care_record/search.html",
        {"form": form, "found": found, "may_break_glass": may_break_glass(actor)},
    )


class BreakGlassForm(PlainForm):
    nhs_number = forms.CharField(
        label="NHS number",
        max_length=NHS_NUMBER_INPUT_MAX_LENGTH,
        error_messages={"required": "Enter the patient's NHS number"},
    )
    birth_date = DayMonthYearField(
        what="the patient's date of birth",
        typed_formats=DATE_FORMATS,
        label="Date of birth",
        help_text="For example, 15 1 1954",
    )
    reason = forms.ChoiceField(
        choices=BreakGlassAccess.Reason.choices,
        widget=forms.RadioSelect,
        label="Reason",
        error_messages={"required": "Choose the reason you need emergency access"},
    )
    explanation = FreeTextField(
        what="the explanation",
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Why do you need this record now?",
        error_messages={"required": "Enter why you need this record now"},
    )

    def clean_nhs_number(self) -> str:
        return normalise_nhs_number(self.cleaned_data["nhs_number"])


@never_cache
@require_http_methods(["GET", "POST"])
def break_glass(request: HttpRequest) -> HttpResponse:
    """Emergency access, for roles allowed it, to a patient identified by NHS number and date of
    birth together; nothing about any patient is shown before the access exists."""
    actor = actor_from_request(request)
    if not may_break_glass(actor):
        raise AccessDenied("this role cannot use emergency access")
    # From the search page: the NHS number and date of birth already typed there.
    initial = {key: request.GET[key] for key in ("nhs_number", "birth_date") if key in request.GET}
    form = BreakGlassForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST" and form.is_valid():
        patient = (
            Patient.objects.current()
            .filter(
                nhs_number=form.cleaned_data["nhs_number"],
                birth_date=form.cleaned_data["birth_date"],
            )
            .first()
        )
        record_search(
            user=request.user,
            team=actor.team,
            role=actor.role,
            purpose="emergency access",
            query=f"{form.cleaned_data['nhs_number']} born {form.cleaned_data['birth_date']}",
            found=patient,
            channel=Channel.WEB,
            context=context_from_request(request),
        )
        if patient is None:
            form.add_error(None, "No patient matches that NHS number and date of birth.")
        else:
            try:
                access_services.break_glass(
                    user=request.user,
                    team=actor.team,
                    patient=patient,
                    reason=form.cleaned_data["reason"],
                    explanation=form.cleaned_data["explanation"],
                )
            except EmergencyAccessError as exc:
                form.add_error(None, str(exc))
            else:
                messages.warning(
                    request, "Emergency access started. It is recorded and will be reviewed."
                )
                return redirect("patient-record", patient_id=patient.pk)
    return render(request, "care_record/break_glass.html", {"form": form})
