"""Pages of the access app that name no patient: choosing the team you act for, how patients
see you (where the deployment lets you choose), and, for administrators, the teams and who is in
each, in which role (never one's own membership).
"""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import services
from access.exceptions import AccessDenied, MembershipError
from access.models import Membership, Role, StaffProfile, Team
from access.services.staff_profiles import set_shown_to_patients_by_role_only
from access.web import SESSION_TEAM, require_administrator
from records.form_fields import FreeTextField, PlainForm


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
        error = "Choose the team you are working for"
    context = {"memberships": memberships, "error": error, "page_errors": bool(error)}
    return render(request, "access/choose_team.html", context)


@never_cache
@require_GET
def manage_teams(request: HttpRequest) -> HttpResponse:
    """The teams, 50 a page, each with how many people are in it."""
    require_administrator(request)
    teams = Team.objects.annotate(members=Count("memberships")).order_by("name", "pk")
    page = Paginator(teams, 50).get_page(request.GET.get("page"))
    return render(request, "access/teams.html", {"teams": page})


class MemberForm(PlainForm):
    username = forms.CharField(
        label="Username",
        max_length=get_user_model()._meta.get_field("username").max_length,
        error_messages={"required": "Enter the username of the person who joins the team"},
    )
    role = forms.ChoiceField(
        choices=[("", "Choose a role"), *Role.choices],
        error_messages={"required": "Choose the role they have in the team"},
    )
    reason = FreeTextField(
        what="the reason",
        label="Why they join the team in this role",
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Enter why they join the team in this role"},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def manage_team_members(request: HttpRequest, team_id: int) -> HttpResponse:
    """Who is in a team, in which role; add someone (or change their role) with a reason."""
    require_administrator(request)
    team = get_object_or_404(Team, pk=team_id)
    form = MemberForm(request.POST if request.method == "POST" else None)
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
    return _team_page(request, team, form=form if form.is_bound else None)


class EndMembershipForm(PlainForm):
    reason = FreeTextField(
        what="the reason",
        label="Reason for ending",
        error_messages={"required": "Enter a reason for ending the membership"},
    )

    def __init__(self, *args, membership_id: int, **kwargs) -> None:
        # One on each member's row: ids of their own, the same names.
        super().__init__(*args, auto_id=f"end-{membership_id}-%s", **kwargs)


def _team_page(
    request: HttpRequest,
    team: Team,
    *,
    form: MemberForm | None = None,
    ending: EndMembershipForm | None = None,
    ending_id: int | None = None,
) -> HttpResponse:
    """The team's page, with whichever of its forms was sent (and its errors) in place."""
    members = Paginator(
        team.memberships.select_related("user").order_by("user__username", "pk"), 100
    ).get_page(request.GET.get("page"))
    end_forms = {
        m.pk: ending if m.pk == ending_id else EndMembershipForm(membership_id=m.pk)
        for m in members
    }
    context = {
        "team": team,
        "members": members,
        "form": form or MemberForm(),
        "end_forms": end_forms,
        "ending": ending,
    }
    return render(request, "access/team_members.html", context)


@require_POST
def end_membership(request: HttpRequest, membership_id: int) -> HttpResponse:
    require_administrator(request)
    membership = get_object_or_404(
        Membership.objects.select_related("user", "team"), pk=membership_id
    )
    form = EndMembershipForm(request.POST, membership_id=membership.pk)
    if form.is_valid():
        try:
            services.end_membership(
                membership=membership, reason=form.cleaned_data["reason"], actor=request.user
            )
        except MembershipError as exc:
            form.add_error("reason", str(exc))
        else:
            messages.success(
                request, f"{membership.user.get_username()} is no longer in {membership.team.name}."
            )
            return redirect("manage-team-members", team_id=membership.team_id)
    return _team_page(request, membership.team, ending=form, ending_id=membership.pk)


class ShownToPatientsForm(PlainForm):
    shown = forms.ChoiceField(
        label="When patients read who has looked at their record, show",
        choices=[
            ("name", "My name, job role and organisation"),
            ("role", "My job role and organisation only"),
        ],
        widget=forms.RadioSelect,
        error_messages={"required": "Choose how patients see you"},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def shown_to_patients(request: HttpRequest) -> HttpResponse:
    """Your own choice of how patients see you in their list of who has looked at their record:
    only where this deployment allows it (LCR_STAFF_MAY_BE_SHOWN_BY_ROLE); else not found."""
    if not settings.LCR_STAFF_MAY_BE_SHOWN_BY_ROLE:
        raise AccessDenied("this deployment shows professionals to patients by name")
    profile = StaffProfile.objects.filter(user=request.user).first()
    current = "role" if profile and profile.shown_to_patients_by_role_only else "name"
    form = ShownToPatientsForm(
        request.POST if request.method == "POST" else None, initial={"shown": current}
    )
    if request.method == "POST" and form.is_valid():
        set_shown_to_patients_by_role_only(
            user=request.user, by_role_only=form.cleaned_data["shown"] == "role"
        )
        messages.success(request, "Your choice is saved.")
        return redirect("account-shown-to-patients")
    return render(request, "access/shown_to_patients.html", {"form": form, "current": current})
