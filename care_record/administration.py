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
from records.form_fields import DayMonthYearField, FreeTextField, PlainForm
from records.limits import NHS_NUMBER_INPUT_MAX_LENGTH
from records.models import Patient, PatientMerge
from records.nhs_numbers import normalise_nhs_number


class PatientSearchForm(PlainForm):
    nhs_number = forms.CharField(
        label="NHS number",
        max_length=NHS_NUMBER_INPUT_MAX_LENGTH,
        error_messages={"required": "Enter the patient's NHS number"},
    )

    def clean_nhs_number(self) -> str:
        return normalise_nhs_number(self.cleaned_data["nhs_number"])


@never_cache
@require_http_methods(["GET", "POST"])
def find_patient(request: HttpRequest) -> HttpResponse:
    """NHS numbers are posted, never put in the address (logs, history, Referer)."""
    require_administrator(request)
    form = PatientSearchForm(request.POST if request.method == "POST" else None)
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


class RelationshipForm(PlainForm):
    team = forms.ModelChoiceField(
        queryset=Team.objects.order_by("name"),
        required=False,
        empty_label="Choose a team",
        label="Team",
        error_messages={"invalid_choice": "Choose a team from the list"},
    )
    username = forms.CharField(
        required=False,
        label="Or one person (their username)",
        max_length=get_user_model()._meta.get_field("username").max_length,
        error_messages={"max_length": "A username has at most %(limit_value)s characters"},
    )
    kind = forms.ChoiceField(
        choices=[("", "Choose the kind of relationship"), *CareRelationship.Kind.choices],
        label="Kind of relationship",
        error_messages={
            "required": "Choose the kind of relationship",
            "invalid_choice": "Choose the kind of relationship from the list",
        },
    )
    starts_on = DayMonthYearField(
        what="the date the relationship starts",
        label="Starts on",
        required=False,
        help_text="For example, 15 3 2026. Leave it empty for today.",
    )
    ends_on = DayMonthYearField(
        what="the date the relationship ends",
        label="Ends on",
        required=False,
        help_text="The last day it covers. Leave it empty if it lasts until someone ends it.",
    )
    reason = FreeTextField(
        what="the reason",
        label="Why this team or person cares for the patient",
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Enter why this team or person cares for the patient"},
    )

    def clean(self) -> dict:
        data = super().clean()
        if "team" in self.errors or "username" in self.errors:
            return data
        team, username = data.get("team"), (data.get("username") or "").strip()
        if team is None and not username:
            self.add_error("team", "Choose a team or enter a username")
        elif team is not None and username:
            self.add_error("username", "Choose a team or enter a username, not both")
        return data


class EndRelationshipForm(PlainForm):
    reason = FreeTextField(
        what="the reason",
        label="Reason for ending",
        error_messages={"required": "Enter a reason for ending the relationship"},
    )

    def __init__(self, *args, relationship_id: int, **kwargs) -> None:
        # One such form on each active relationship's row: ids of their own, the same names.
        super().__init__(*args, auto_id=f"end-{relationship_id}-%s", **kwargs)


class ObjectionForm(PlainForm):
    notes = FreeTextField(
        what="the notes",
        label="What the patient asked, and how it was recorded",
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Enter what the patient asked, and how it was recorded"},
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, auto_id="objection-%s", **kwargs)


def _manage_page(
    request: HttpRequest,
    patient: Patient,
    *,
    form: RelationshipForm | None = None,
    ending: EndRelationshipForm | None = None,
    ending_id: int | None = None,
    objection_form: ObjectionForm | None = None,
) -> HttpResponse:
    """The patient's page, with whichever of its forms was sent (and its errors) in place; a
    look at the patient's details, recorded."""
    relationships = list(
        patient.relationships.select_related("team", "user", "created_by", "ended_by")
    )
    end_forms = {
        r.pk: ending if r.pk == ending_id else EndRelationshipForm(relationship_id=r.pk)
        for r in relationships
        if r.ended_at is None
    }
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
            "form": form or RelationshipForm(),
            "end_forms": end_forms,
            "ending": ending,
            "objection_form": objection_form or ObjectionForm(),
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


@never_cache
@require_http_methods(["GET", "POST"])
def manage_patient(request: HttpRequest, patient_id: int) -> HttpResponse:
    require_administrator(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    form = RelationshipForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        username = values.pop("username").strip()
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
            form.add_error("username" if username and values["user"] is None else None, str(exc))
        else:
            messages.success(request, "Care relationship recorded.")
            return redirect("manage-patient", patient_id=patient.pk)
    return _manage_page(request, patient, form=form if form.is_bound else None)


@never_cache
@require_POST
def end_relationship(request: HttpRequest, relationship_id: int) -> HttpResponse:
    require_administrator(request)
    relationship = get_object_or_404(
        CareRelationship.objects.select_related("patient"), pk=relationship_id
    )
    form = EndRelationshipForm(request.POST, relationship_id=relationship.pk)
    if form.is_valid():
        try:
            services.end_relationship(
                relationship=relationship, reason=form.cleaned_data["reason"], actor=request.user
            )
        except RelationshipError as exc:
            form.add_error("reason", str(exc))
        else:
            messages.success(request, "Care relationship ended; access through it has gone.")
            return redirect("manage-patient", patient_id=relationship.patient_id)
    return _manage_page(request, relationship.patient, ending=form, ending_id=relationship.pk)


@never_cache
@require_POST
def record_objection(request: HttpRequest, patient_id: int) -> HttpResponse:
    require_administrator(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    form = ObjectionForm(request.POST)
    if form.is_valid():
        try:
            services.record_objection(
                patient=patient, notes=form.cleaned_data["notes"], actor=request.user
            )
        except ObjectionError as exc:
            form.add_error("notes", str(exc))
        else:
            messages.success(request, "Objection recorded: the record is no longer shared.")
            return redirect("manage-patient", patient_id=patient.pk)
    return _manage_page(request, patient, objection_form=form)


@never_cache
@require_http_methods(["GET", "POST"])
def withdraw_objection(request: HttpRequest, objection_id: int) -> HttpResponse:
    """Asks first (the record is shared again at once), then withdraws. The question names the
    patient, so showing it is a recorded look at their details."""
    require_administrator(request)
    objection = get_object_or_404(
        Objection.objects.select_related("patient", "recorded_by"),
        pk=objection_id,
        withdrawn_at__isnull=True,
    )
    if request.method == "POST":
        carry_out(
            request,
            lambda: services.withdraw_objection(objection=objection, actor=request.user),
            refused=ObjectionError,
            done="Objection withdrawn: the record is shared again.",
        )
        return redirect("manage-patient", patient_id=objection.patient_id)
    record_look_at_details(
        actor=actor_from_request(request),
        patient=objection.patient,
        basis=AccessBasis.ADMINISTRATION,
        context=context_from_request(request),
    )
    return render(
        request,
        "care_record/withdraw_objection.html",
        {"patient": objection.patient, "objection": objection},
    )
