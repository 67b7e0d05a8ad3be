"""Privacy officers' pages: the emergency-access review queue with its alerts, and the changes to
who is in which team (access reports: audit/report_views.py). Nobody else can open them."""

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from access import selectors as access_selectors
from access import services as access_services
from access.exceptions import AccessDenied, EmergencyAccessError
from access.models import BreakGlassAccess
from access.web import actor_from_request, carry_out, require_privacy_officer
from audit.selectors import alerts, break_glass_queue
from records.limits import FREE_TEXT_MAX_LENGTH


def _privacy_officer(request: HttpRequest) -> None:
    require_privacy_officer(request)


@never_cache
@require_GET
def membership_changes(request: HttpRequest) -> HttpResponse:
    """Who was put in or taken out of which team, by whom and why; and administrators who also
    hold a role that opens records."""
    _privacy_officer(request)
    return render(
        request,
        "audit/membership_changes.html",
        {
            "changes": access_selectors.membership_changes(),
            "flagged": access_selectors.administrators_who_see_records(),
        },
    )


@never_cache
def review_queue(request: HttpRequest) -> HttpResponse:
    _privacy_officer(request)
    return render(
        request,
        "audit/review_queue.html",
        {"accesses": break_glass_queue()[:200], "alerts": alerts()},
    )


class ReviewForm(forms.Form):
    outcome = forms.ChoiceField(
        choices=[
            (BreakGlassAccess.Review.APPROVED, "Appropriate"),
            (BreakGlassAccess.Review.FLAGGED, "Flag for investigation"),
        ]
    )
    note = forms.CharField(required=False, max_length=FREE_TEXT_MAX_LENGTH)


@require_POST
def review_break_glass(request: HttpRequest, access_id: int) -> HttpResponse:
    _privacy_officer(request)
    access = get_object_or_404(BreakGlassAccess, pk=access_id)
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose appropriate or flag for investigation.")
        return redirect("audit-review-queue")
    carry_out(
        request,
        lambda: access_services.review_break_glass(
            access=access,
            outcome=form.cleaned_data["outcome"],
            note=form.cleaned_data["note"],
            actor=actor_from_request(request),
        ),
        refused=(AccessDenied, EmergencyAccessError),
        done="Review recorded.",
    )
    return redirect("audit-review-queue")
