"""Pages for administrators who manage care relationships and objections: they see who a patient
is and who cares for them, never clinical data; each look at a patient's details is recorded.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from access import services
from access.exceptions import ObjectionError, RelationshipError
from access.models import AccessBasis, CareRelationship, Objection, Team
from access.web import actor_from_request, carry_out, require_administrator
from audit.models import Channel
from audit.request_context import context_from_request
from audit.services import record_look_at_details, record_search
from records.limits import FREE_TEXT_MAX_LENGTH, NHS_NUMBER_INPUT_MAX_LENGTH
from records.models import Patient, PatientMerge
from records.nhs_numbers import normalise_nhs_number


class PatientSearchForm(forms.Form):
    nhs_number = forms.CharField(label="NHS number", max_length=NHS_NUMBER_INPUT_MAX_LENGTH)

    def clean_nhs_number(self) -> str:
        return normalise_nhs_number(self.cleaned_data["nhs_number"])


@never_cache
@require_http_methods(["GET", "POST"])
def find_patient(request: HttpRequest) -> HttpResponse:
    """NHS numbers are posted, never put in the address (logs, history, Referer)."""
    require_administrator(request)
    form = PatientSearchForm(request.POST or None)
    if form.is_valid():
        patient = Patient.objects.filter(nhs_number=form.cleaned_data["nhs_number"]).first()
        actor = actor_from_request(request)
        record_search(
            user=request.user,
            team=actor.team,
            role=actor.role,
            purpose="manage care relationships",
            query=form.cleaned_data["nhs_number"],
            found=patient,
            channel=Channel.WEB,
            context=context_from_request(request),
        )
        if patient is not None:
            return redirect("manage-patient", patient_id=patient.pk)
        form.add_error("nhs_number", "No patient in the register has this NHS number.")
    return render(request, "care_record/find_patient.html", {"form": form})


class RelationshipForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    username = forms.CharField(
        required=False,
        label="Or one person (their username)",
        max_length=get_user_model()._meta.get_field("username").max_length,
    )
    kind = forms.ChoiceField(choices=CareRelationship.Kind.choices)
    starts_on = forms.DateField(required=False, help_text="Empty: today.")
    ends_on = forms.DateField(required=False, help_text="Empty: until someone ends it.")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}), max_length=FREE_TEXT_MAX_LENGTH
    )


@never_cache
@require_http_methods(["GET", "POST"])
def manage_patient(request: HttpRequest, patient_id: int) -> HttpResponse:
    require_administrator(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    form = RelationshipForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        username = values.pop("username")
        values["user"] = (
            get_user_model().objects.filter(username=username, is_active=True).first()
            if username
            else None
        )
        try:
            if username and values["user"] is None:
                raise RelationshipError(f"There is no active user {username}.")
            services.start_relationship(patient=patient, actor=request.user, **values)
        except RelationshipError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Care relationship recorded.")
            return redirect("manage-patient", patient_id=patient.pk)
    relationships = patient.relationships.select_related("team", "user", "created_by", "ended_by")
    record_look_at_details(
        actor=actor_from_request(request),
        patient=patient,
        basis=AccessBasis.ADMINISTRATION,
        context=context_from_request(request),
    )
    return render(
        request,
        "care_record/manage_patient.html",
        {
            "patient": patient,
            "relationships": relationships,
            "objections": Objection.objects.filter(patient=patient).select_related("recorded_by"),
            "form": form,
            "today": timezone.localdate(),
            "merged_into": merge_of(patient),
        },
    )


def merge_of(patient: Patient) -> PatientMerge | None:
    """The merge that retired this record (what it was merged into, and when), if it was."""
    if patient.merged_into_id is None:
        return None
    return (
        PatientMerge.objects.filter(retired=patient, kept_id=patient.merged_into_id)
        .filter(undone_at__isnull=True)
        .select_related("kept")
        .order_by("-merged_at")
        .first()
    )


@require_POST
def end_relationship(request: HttpRequest, relationship_id: int) -> HttpResponse:
    require_administrator(request)
    relationship = get_object_or_404(CareRelationship, pk=relationship_id)
    carry_out(
        request,
        lambda: services.end_relationship(
            relationship=relationship, reason=request.POST.get("reason", ""), actor=request.user
        ),
        refused=RelationshipError,
        done="Care relationship ended; access through it has gone.",
    )
    return redirect("manage-patient", patient_id=relationship.patient_id)


@require_POST
def record_objection(request: HttpRequest, patient_id: int) -> HttpResponse:
    require_administrator(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    carry_out(
        request,
        lambda: services.record_objection(
            patient=patient, notes=request.POST.get("notes", ""), actor=request.user
        ),
        refused=ObjectionError,
        done="Objection recorded: the record is no longer shared.",
    )
    return redirect("manage-patient", patient_id=patient.pk)


@require_POST
def withdraw_objection(request: HttpRequest, objection_id: int) -> HttpResponse:
    require_administrator(request)
    objection = get_object_or_404(Objection, pk=objection_id, withdrawn_at__isnull=True)
    carry_out(
        request,
        lambda: services.withdraw_objection(objection=objection, actor=request.user),
        refused=ObjectionError,
        done="Objection withdrawn.",
    )
    return redirect("manage-patient", patient_id=objection.patient_id)
