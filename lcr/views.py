"""Project-wide pages: the signed-in home, the health check, and error pages that leak nothing."""

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from records.models import UnmatchedRecord
from records.selectors import sources_with_latest_sync


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    """What the record knows of itself so far: its sources and the identity review queue."""
    return render(
        request,
        "home.html",
        {
            "sources": sources_with_latest_sync(),
            "waiting_for_review": UnmatchedRecord.objects.filter(
                status=UnmatchedRecord.Status.PENDING
            ).count(),
        },
    )


@login_not_required
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """For process managers and the launcher: the web process is up and can reach its database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_not_required
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


@login_not_required
def server_error(request: HttpRequest) -> HttpResponse:
    return render(request, "500.html", status=500)
