"""The page for choosing the team you act for."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from access.models import Membership
from access.web import SESSION_TEAM


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
