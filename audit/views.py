"""Privacy officers' page of the changes to who is in which team (access reports:
audit/report_views.py; the review queue, its alerts and their evidence: audit/review_views.py).
Nobody else can open it."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from access import selectors as access_selectors
from access.web import require_privacy_officer


@never_cache
@require_GET
def membership_changes(request: HttpRequest) -> HttpResponse:
    """Who was put in or taken out of which team, by whom and why; and administrators who also
    hold a role that opens records."""
    require_privacy_officer(request)
    return render(
        request,
        "audit/membership_changes.html",
        {
            "changes": access_selectors.membership_changes(),
            "flagged": access_selectors.administrators_who_see_records(),
        },
    )
