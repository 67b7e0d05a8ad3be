"""Pages that show a patient's record. Thin: who is asking, read_record, render."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from access import services as access_services
from access.exceptions import AccessDenied
from access.models import BreakGlassAccess
from access.policy import may_break_glass
from access.web import actor_from_request
from audit.services import record_search
from audit.web import context_from_request
from records.models import Patient
from records.nhs_numbers import normalise_nhs_number
from records.services import read_record


def _patient(patient_id: int) -> Patient:
    return get_object_or_404(Patient.objects.filter(merged_into__isnull=True), pk=patient_id)


@never_cache
@require_http_methods(["GET", "POST"])
def patient_record(request: HttpRequest, patient_id: int) -> HttpResponse:
    """The record: banner, sources' states, then each heading with its items' source and age.

    POST asks every source again now (the "Refresh now" button), then shows the page again.
    """
    record = read_record(
        actor=actor_from_request(request),
        patient=_patient(patient_id),
        channel="web",
        force_refresh=request.method == "POST",
        context=context_from_request(request),
    )
    if request.method == "POST":
        return redirect("patient-record", patient_id=patient_id)
    return render(request, "records/record.html", {"record": record, "patient": record.patient})


class BreakGlassForm(forms.Form):
    nhs_number = forms.CharField(label="NHS number", max_length=20)
    birth_date = forms.DateField(
        label="Date of birth",
        help_text="For example 15/01/1954.",
        input_formats=["%d/%m/%Y", "%Y-%m-%d"],
    )
    reason = forms.ChoiceField(
        choices=BreakGlassAccess.Reason.choices, widget=forms.RadioSelect, label="Reason"
    )
    explanation = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Why do you need this record now?",
        max_length=2000,
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
    form = BreakGlassForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        patient = Patient.objects.filter(
            nhs_number=form.cleaned_data["nhs_number"],
            birth_date=form.cleaned_data["birth_date"],
            merged_into__isnull=True,
        ).first()
        record_search(
            user=request.user,
            team=actor.team,
            role=actor.role,
            purpose="emergency access",
            query=f"{form.cleaned_data['nhs_number']} born {form.cleaned_data['birth_date']}",
            found=patient,
            channel="web",
            context=context_from_request(request),
        )
        if patient is None:
            form.add_error(None, "No patient matches that NHS number and date of birth.")
        else:
            access_services.break_glass(
                user=request.user,
                team=actor.team,
                patient=patient,
                reason=form.cleaned_data["reason"],
                explanation=form.cleaned_data["explanation"],
            )
            messages.warning(
                request, "Emergency access started. It is recorded and will be reviewed."
            )
            return redirect("patient-record", patient_id=patient.pk)
    return render(request, "records/break_glass.html", {"form": form})
