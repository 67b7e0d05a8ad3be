"""Project-wide pages: the signed-in home, the health and readiness checks, and error pages that
leak nothing."""

import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views.decorators.cache import never_cache

from access.policy import (
    manages_relationships,
    may_break_glass,
    reviews_break_glass,
    sees_records,
)
from access.selectors import (
    ENDING_SOON_DAYS,
    administrators_who_see_records,
    my_patients_page,
    relationships_ending_soon,
)
from access.web import actor_from_request, memberships_of
from audit.patient_questions import open_questions
from audit.review_selectors import alerts
from audit.selectors import break_glass_queue, recently_viewed
from lcr.broker_state import broker_health
from records.heartbeats import readiness
from records.permissions import may_merge, may_unmerge, reviews_identities
from records.selectors import merge_requests_waiting, sources_with_latest_sync, waiting_for_review

logger = logging.getLogger(__name__)


@never_cache
def home(request: HttpRequest) -> HttpResponse:
    """What the role needs first. Clinical roles: the patients their team cares for and the ones
    they looked at lately. Administrators: the work waiting (relationships ending soon, imports,
    identity reviews), with no list of patients. Privacy officers: the emergency accesses to
    review, the alerts and the patients' open questions. Identity reviewers: the records
    and merges waiting for them. Staff: the register's state."""
    actor = actor_from_request(request)
    memberships = len(memberships_of(request))
    clinical = sees_records(actor)
    page = (
        my_patients_page(actor, request.GET.get("page"))
        if clinical and actor.team is not None
        else None
    )
    reviews = reviews_break_glass(actor)
    identity = reviews_identities(request.user)
    merges = may_merge(request.user) or may_unmerge(request.user)
    manages = manages_relationships(actor)
    return render(
        request,
        "home.html",
        {
            "actor": actor,
            "needs_team": actor.team is None and memberships > 1,
            "patients": page,
            "recent": recently_viewed(actor) if clinical else [],
            "manages": manages,
            # Counts and the team or person only: a name here would be a look at the patient's
            # details on every visit to the home page, which nobody chose to make.
            "ending_soon": relationships_ending_soon() if manages else None,
            "ending_soon_days": ENDING_SOON_DAYS,
            "glass": may_break_glass(actor),
            "reviews": reviews,
            "review_count": break_glass_queue().count() if reviews else 0,
            "flagged": administrators_who_see_records() if reviews else [],
            "alerts": alerts() if reviews else [],
            "open_questions": open_questions().count() if reviews else 0,
            "shown_to_patients_choice": settings.LCR_STAFF_MAY_BE_SHOWN_BY_ROLE,
            "sources": sources_with_latest_sync() if request.user.is_staff else [],
            "identity_reviews": identity,
            "waiting_for_review": waiting_for_review() if identity or manages else 0,
            "merges": merges,
            "merges_waiting": merge_requests_waiting().count() if merges else 0,
        },
    )


@login_not_required
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """Liveness, for process managers and the launcher: the web process answers and can reach
    its database. Restart the process when this fails; nothing else is asked of it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_not_required
@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness, for monitoring, the load balancer and the launcher: can the product fetch
    records now? Each check by name with its state: the database, the broker (one round trip,
    LCR_BROKER_CHECK_TIMEOUT_SECONDS at most), beat's and the worker's heartbeats, overdue
    fetches; 503, naming what is wrong, when any fails. Ages and counts only, never patient
    data; two bounded queries."""
    checks: dict[str, dict] = {}
    problems: list[str] = []
    try:
        state = readiness()
    except DatabaseError:
        logger.exception("readiness check could not read the database")
        checks["database"] = {"status": "unreachable"}
        problems.append("database: unreachable")
    else:
        checks["database"] = {"status": "ok"}
        checks.update(state.checks)
        problems += state.problems
    broker = broker_health(timeout=settings.LCR_BROKER_CHECK_TIMEOUT_SECONDS)
    checks["broker"] = broker.as_json()
    if not broker.reachable:
        problems.append(f"broker: unreachable ({broker.detail})")
    body = {"status": "failing" if problems else "ok", "problems": problems, "checks": checks}
    return JsonResponse(body, status=503 if problems else 200)


@login_not_required
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


@login_not_required
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Refused actions (a stale form's CSRF token, the admin's own checks) in the same look."""
    return render(request, "403.html", status=403)


@login_not_required
def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form sent with a stale or missing token: the same refusal page, not Django's own."""
    return render(request, "403.html", status=403)


@login_not_required
def server_error(request: HttpRequest) -> HttpResponse:
    """Rendered without the request: the session or the database may be what failed."""
    return HttpResponse(loader.render_to_string("500.html"), status=500)
