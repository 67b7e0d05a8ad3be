"""Privacy officers' review pages: the emergency-access queue (filtered, and as CSV), one access
with every review of it, recording a review, and the looks behind each alert. Nobody else can
open them; the queue and an access's page name no patient, an alert's evidence does and is
recorded as a look at each patient it names.
"""

import datetime

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from access import services as access_services
from access.exceptions import AccessDenied, ReviewError
from access.models import AccessBasis, BreakGlassAccess
from access.services.emergency_access import decisions_open_to
from access.web import actor_from_request, require_privacy_officer
from audit.request_context import context_from_request
from audit.review_selectors import (
    LONGEST_PERIOD_DAYS,
    AlertKind,
    Period,
    QueueFilter,
    QueueState,
    alert_evidence,
    alerts,
    break_glass_queue,
    break_glass_with_reviews,
    emergency_accesses_by,
    looks_by_hour,
    looks_under,
)
from audit.services import record_looks_at_details
from audit.trail_dates import TrailDateField
from records.form_fields import FreeTextField, PlainForm
from records.safe_csv import csv_lines

QUEUE_SHOWN = 100
EVIDENCE_PAGE = 50
LOOKS_UNDER_AN_ACCESS = 50
QUEUE_CSV_COLUMNS = [
    "access id",
    "started at",
    "expires at",
    "username",
    "name",
    "team",
    "organisation",
    "reason",
    "explanation",
    "state",
    "reviews",
    "last reviewed at",
    "last reviewed by",
    "last note",
]


class QueueFilterForm(PlainForm):
    state = forms.ChoiceField(
        label="Show", choices=QueueState.choices, required=False, initial=QueueState.PENDING
    )
    started_from = TrailDateField(
        what="the first day", label="Started on or after", required=False,
        help_text="For example, 15 3 2026",
    )  # fmt: skip
    started_to = TrailDateField(
        what="the last day", label="Started on or before", required=False,
        help_text="For example, 31 3 2026",
    )  # fmt: skip
    organisation = forms.CharField(
        label="Organisation or team", required=False, max_length=200,
        help_text="An ODS code, or part of a team's name",
    )  # fmt: skip
    user = forms.CharField(
        label="Professional", required=False, max_length=150,
        help_text="A username, or part of their name",
    )  # fmt: skip
    reason = forms.ChoiceField(
        label="Reason",
        choices=[("", "Any reason"), *BreakGlassAccess.Reason.choices],
        required=False,
    )

    def clean(self) -> dict:
        data = super().clean()
        first, last = data.get("started_from"), data.get("started_to")
        if first and last and first > last:
            self.add_error("started_to", "The last day must be on or after the first day.")
        return data

    def queue_filter(self) -> QueueFilter:
        data = self.cleaned_data
        return QueueFilter(
            state=data["state"] or QueueState.PENDING,
            started_from=data["started_from"],
            started_to=data["started_to"],
            organisation=data["organisation"].strip(),
            user=data["user"].strip(),
            reason=data["reason"],
        )


def _filtered(request: HttpRequest) -> tuple[QueueFilterForm, QueueFilter | None]:
    form = QueueFilterForm(request.GET or None)
    if not request.GET:
        return form, QueueFilter()
    return form, form.queue_filter() if form.is_valid() else None


@never_cache
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    """Emergency accesses by where their review stands (waiting by default), filtered, with the
    alerts of the last week, each a link to the looks behind it."""
    require_privacy_officer(request)
    form, filters = _filtered(request)
    accesses, total = [], 0
    if filters is not None:
        queue = break_glass_queue(filters)
        accesses = list(queue.annotate(review_count=Count("reviews"))[:QUEUE_SHOWN])
        total = len(accesses) if len(accesses) < QUEUE_SHOWN else queue.count()
    return render(
        request,
        "audit/review_queue.html",
        {
            "form": form,
            "filters": filters,
            "accesses": accesses,
            "total": total,
            "shown": QUEUE_SHOWN,
            "query": request.GET.urlencode(),
            "alerts": alerts(),
            "Review": BreakGlassAccess.Review,
        },
        status=200 if filters is not None else 400,
    )


@never_cache
@require_GET
def review_queue_csv(request: HttpRequest) -> HttpResponse:
    """The queue as the filter shows it, every row, as CSV (it names no patient either)."""
    require_privacy_officer(request)
    form, filters = _filtered(request)
    if filters is None:
        return render(
            request,
            "audit/review_queue.html",
            {"form": form, "filters": None, "accesses": [], "alerts": [], "query": ""},
            status=400,
        )
    queue = break_glass_queue(filters).annotate(review_count=Count("reviews"))

    def rows():
        yield QUEUE_CSV_COLUMNS
        for access in queue.iterator(2000):
            yield [
                access.pk,
                _iso(access.started_at),
                _iso(access.expires_at),
                access.user.get_username(),
                access.user.get_full_name(),
                access.team.name,
                access.team.ods_code,
                access.get_reason_display(),
                access.explanation,
                access.get_review_display(),
                access.review_count,
                _iso(access.reviewed_at),
                access.reviewed_by.get_username() if access.reviewed_by else "",
                access.review_note,
            ]

    response = StreamingHttpResponse(csv_lines(rows()), content_type="text/csv; charset=utf-8")
    day = timezone.localdate().isoformat()
    response["Content-Disposition"] = f'attachment; filename="emergency-access-{day}.csv"'
    return response


def _iso(moment: datetime.datetime | None) -> str:
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""


class ReviewForm(PlainForm):
    """Shape only: which decision may follow, and when a note is needed, is the service's rule
    (access.services.emergency_access); its refusal is shown on the field it names."""

    outcome = forms.CharField(required=False, max_length=20)
    note = FreeTextField(
        what="the note",
        label="Note",
        help_text="Needed to flag an access, and for each step or conclusion of an investigation.",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


@never_cache
@require_GET
def break_glass_detail(request: HttpRequest, access_id: int) -> HttpResponse:
    """One emergency access: who, when, why, what they looked at under it, every review."""
    require_privacy_officer(request)
    return _detail(request, access_id, ReviewForm())


def _detail(request: HttpRequest, access_id: int, form: ReviewForm, status: int = 200):
    try:
        access, reviews = break_glass_with_reviews(access_id)
    except BreakGlassAccess.DoesNotExist:
        raise Http404("no such emergency access") from None
    looks = looks_under(access, limit=LOOKS_UNDER_AN_ACCESS)
    own = access.user_id == request.user.pk
    return render(
        request,
        "audit/break_glass_detail.html",
        {
            "access": access,
            "reviews": reviews,
            "looks": looks,
            "more_looks": len(looks) == LOOKS_UNDER_AN_ACCESS,
            "form": form,
            "decisions": [] if own else decisions_open_to(access),
            "own": own,
        },
        status=status,
    )


@require_POST
def review_break_glass(request: HttpRequest, access_id: int) -> HttpResponse:
    """Record a review; a refusal (no note to a flag, a decision that cannot follow) shows the
    access's page with the error on its field and nothing recorded."""
    require_privacy_officer(request)
    access = BreakGlassAccess.objects.filter(pk=access_id).first()
    if access is None:
        raise Http404("no such emergency access")
    form = ReviewForm(request.POST)
    if form.is_valid():
        try:
            access_services.review_break_glass(
                access=access,
                outcome=form.cleaned_data["outcome"],
                note=form.cleaned_data["note"],
                actor=actor_from_request(request),
            )
        except ReviewError as exc:
            form.add_error("outcome" if exc.field == "decision" else "note", str(exc))
        except AccessDenied as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, "Review recorded.")
            if request.POST.get("back") == "queue":
                return redirect("audit-review-queue")
            return redirect("audit-break-glass", access_id=access.pk)
    return _detail(request, access.pk, form, status=400)


class PeriodForm(PlainForm):
    first = TrailDateField(what="the first day", label="From", required=False)
    last = TrailDateField(what="the last day", label="To", required=False)

    def period(self) -> Period:
        default = Period.last_days()
        first = self.cleaned_data.get("first") or default.first
        last = self.cleaned_data.get("last") or default.last
        return Period(first=first, last=last)

    def clean(self) -> dict:
        data = super().clean()
        if self.errors:
            return data
        period = self.period()
        if period.first > period.last:
            self.add_error("last", "The last day must be on or after the first day.")
        elif (period.last - period.first).days >= LONGEST_PERIOD_DAYS:
            self.add_error("last", f"Choose at most {LONGEST_PERIOD_DAYS} days.")
        return data


@never_cache
@require_GET
def alert_evidence_page(request: HttpRequest, kind: str, user_id: int) -> HttpResponse:
    """The looks behind one alert: which looks (when, whose record, what, on what basis), at
    which hours, and for emergency access the accesses themselves. It names the patients, so
    opening it is recorded as a privacy review look at each patient it names."""
    require_privacy_officer(request)
    if kind not in AlertKind.values:
        raise Http404("no such alert")
    professional = get_user_model().objects.filter(pk=user_id).first()
    if professional is None:
        raise Http404("no such professional")
    form = PeriodForm(request.GET)
    context = {"kind": AlertKind(kind), "professional": professional, "form": form}
    if not form.is_valid():
        return render(request, "audit/alert_evidence.html", context, status=400)
    period = form.period()
    looks = alert_evidence(kind=kind, user=professional, period=period)
    page = Paginator(looks, EVIDENCE_PAGE).get_page(request.GET.get("page"))
    record_looks_at_details(
        actor=actor_from_request(request),
        patients=[look.patient for look in page],
        basis=AccessBasis.PRIVACY_REVIEW,
        context=context_from_request(request),
    )
    base = reverse("audit-alert-evidence", kwargs={"kind": kind, "user_id": professional.pk})
    dates = f"first={period.first:%d/%m/%Y}&last={period.last:%d/%m/%Y}"
    context.update(
        period=period,
        page=page,
        hours=[(hour_words(hour), count) for hour, count in looks_by_hour(looks)],
        accesses=(
            emergency_accesses_by(user=professional, period=period)
            if kind == AlertKind.EMERGENCY_ACCESS
            else []
        ),
        page_address=f"{base}?{dates}&page=",
    )
    return render(request, "audit/alert_evidence.html", context)


def hour_words(hour: int) -> str:
    """An hour of the day as NHS.UK writes times: 21 -> "9pm to 10pm", 23 -> "11pm to midnight"."""

    def words(h: int) -> str:
        if h % 24 == 0:
            return "midnight"
        if h == 12:
            return "midday"
        return f"{h % 12 or 12}{'am' if h < 12 else 'pm'}"

    return f"{words(hour)} to {words(hour + 1)}"
