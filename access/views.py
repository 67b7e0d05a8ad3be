"""Pages for choosing the team you act for, and for administrators who manage care relationships
and who is in which team.

Administrators see who a patient is and who cares for them, never clinical data.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import services
from access.exceptions import AccessDenied, MembershipError, RelationshipError
from access.importing import import_relationships
from access.models import CareRelationship, Membership, Objection, Role, Team
from access.policy import manages_relationships
from access.web import SESSION_TEAM, actor_from_request
from audit.models import AccessEvent
from audit.services import record_search
from audit.web import context_from_request
from records.models import Patient
from records.nhs_numbers import normalise_nhs_number
from records.services import record_look_at_details


@require_http_methods(["GET", "POST"])
def choose_team(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.filter(user=request.user).select_related("team")
    error = None
    if request.method == "POST":
        team_id = request.POST.get("team", "")
        chosen = memberships.filter(team_id=team_id).first() if team_id.isdigit() else None
        if chosen is not None:
            request.session[SESSION_TEAM] = chosen.team_id
            messages.success(request, f"You are acting for {chosen.team.name}.")
            return redirect("home")
        error = "Choose one of your teams."
    return render(request, "access/choose_team.html", {"memberships": memberships, "error": error})


def _administrator(request: HttpRequest) -> None:
    if not manages_relationships(actor_from_request(request)):
        raise AccessDenied("only administrators manage care relationships")


class PatientSearchForm(forms.Form):
    nhs_number = forms.CharField(label="NHS number", max_length=20)

    def clean_nhs_number(self) -> str:
        return normalise_nhs_number(self.cleaned_data["nhs_number"])


@never_cache
@require_http_methods(["GET", "POST"])
def find_patient(request: HttpRequest) -> HttpResponse:
    """NHS numbers are posted, never put in the address (logs, history, Referer)."""
    _administrator(request)
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
            channel="web",
            context=context_from_request(request),
        )
        if patient is not None:
            return redirect("manage-patient", patient_id=patient.pk)
        form.add_error("nhs_number", "No patient in the register has this NHS number.")
    return render(request, "access/find_patient.html", {"form": form})


class RelationshipForm(forms.Form):
    team = forms.ModelChoiceField(queryset=Team.objects.all(), required=False)
    username = forms.CharField(required=False, label="Or one person (their username)")
    kind = forms.ChoiceField(choices=CareRelationship.Kind.choices)
    starts_on = forms.DateField(required=False, help_text="Empty: today.")
    ends_on = forms.DateField(required=False, help_text="Empty: until someone ends it.")
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))


@never_cache
@require_http_methods(["GET", "POST"])
def manage_patient(request: HttpRequest, patient_id: int) -> HttpResponse:
    _administrator(request)
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
        basis=AccessEvent.Basis.ADMINISTRATION,
        context=context_from_request(request),
    )
    return render(
        request,
        "access/manage_patient.html",
        {
            "patient": patient,
            "relationships": relationships,
            "objections": Objection.objects.filter(patient=patient).select_related("recorded_by"),
            "form": form,
            "today": timezone.localdate(),
        },
    )


@require_POST
def end_relationship(request: HttpRequest, relationship_id: int) -> HttpResponse:
    _administrator(request)
    relationship = get_object_or_404(CareRelationship, pk=relationship_id)
    try:
        services.end_relationship(
            relationship=relationship, reason=request.POST.get("reason", ""), actor=request.user
        )
    except RelationshipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Care relationship ended; access through it has gone.")
    return redirect("manage-patient", patient_id=relationship.patient_id)


@require_POST
def record_objection(request: HttpRequest, patient_id: int) -> HttpResponse:
    _administrator(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    try:
        services.record_objection(
            patient=patient, notes=request.POST.get("notes", ""), actor=request.user
        )
    except RelationshipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Objection recorded: the record is no longer shared.")
    return redirect("manage-patient", patient_id=patient.pk)


@require_POST
def withdraw_objection(request: HttpRequest, objection_id: int) -> HttpResponse:
    _administrator(request)
    objection = get_object_or_404(Objection, pk=objection_id, withdrawn_at__isnull=True)
    services.withdraw_objection(objection=objection, actor=request.user)
    messages.success(request, "Objection withdrawn.")
    return redirect("manage-patient", patient_id=objection.patient_id)


class ImportForm(forms.Form):
    file = forms.FileField(label="CSV file")
    dry_run = forms.BooleanField(required=False, initial=True, label="Check only (write nothing)")


@never_cache
@require_http_methods(["GET", "POST"])
def import_relationships_page(request: HttpRequest) -> HttpResponse:
    _administrator(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > 10 * 1024 * 1024:
            form.add_error("file", "The file is larger than 10 MB: split it.")
        else:
            report = import_relationships(
                data=upload.read(), actor=request.user, dry_run=form.cleaned_data["dry_run"]
            )
    return render(request, "access/import.html", {"form": form, "report": report})


@never_cache
@require_GET
def manage_teams(request: HttpRequest) -> HttpResponse:
    """The teams, 50 a page, each with how many people are in it."""
    _administrator(request)
    teams = Team.objects.annotate(members=Count("memberships")).order_by("name", "pk")
    page = Paginator(teams, 50).get_page(request.GET.get("page"))
    return render(request, "access/teams.html", {"teams": page})


class MemberForm(forms.Form):
    username = forms.CharField(label="Username", max_length=150)
    role = forms.ChoiceField(choices=Role.choices)
    reason = forms.CharField(
        label="Why they join the team in this role",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
    )


@never_cache
@require_http_methods(["GET", "POST"])
def manage_team_members(request: HttpRequest, team_id: int) -> HttpResponse:
    """Who is in a team, in which role; add someone (or change their role) with a reason."""
    _administrator(request)
    team = get_object_or_404(Team, pk=team_id)
    form = MemberForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=username).first()
        try:
            if user is None:
                raise MembershipError(f"There is no user {username}.")
            services.add_member(
                team=team,
                user=user,
                role=form.cleaned_data["role"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except MembershipError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request,
                f"{username} is in {team.name} as {dict(Role.choices)[form.cleaned_data['role']]}.",
            )
            return redirect("manage-team-members", team_id=team.pk)
    members = Paginator(
        team.memberships.select_related("user").order_by("user__username", "pk"), 100
    ).get_page(request.GET.get("page"))
    return render(
        request, "access/team_members.html", {"team": team, "members": members, "form": form}
    )


@require_POST
def end_membership(request: HttpRequest, membership_id: int) -> HttpResponse:
    _administrator(request)
    membership = get_object_or_404(
        Membership.objects.select_related("user", "team"), pk=membership_id
    )
    try:
        services.end_membership(
            membership=membership, reason=request.POST.get("reason", ""), actor=request.user
        )
    except MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request, f"{membership.user.get_username()} is no longer in {membership.team.name}."
        )
    return redirect("manage-team-members", team_id=membership.team_id)
