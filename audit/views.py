"""Privacy officers' pages: a patient's access report (page and CSV) and the changes to who is in
which team (the review queue, its alerts and their evidence: audit/review_views.py). Nobody else
can open them."""

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from access import selectors as access_selectors
from access.exceptions import AccessDenied
from access.models import AccessBasis
from access.policy import reviews_break_glass
from access.web import actor_from_request
from audit.csv_export import csv_lines
from audit.fhir import audit_bundle
from audit.pdf import access_report_pdf
from audit.request_context import context_from_request
from audit.selectors import access_report
from audit.services import record_look_at_details
from records.models import Patient

CSV_COLUMNS = [
    "time",
    "user",
    "role",
    "team",
    "organisation",
    "what",
    "items shown",
    "basis",
    "channel",
    "purpose",
]


def _privacy_officer(request: HttpRequest) -> None:
    if not reviews_break_glass(actor_from_request(request)):
        raise AccessDenied("only privacy officers read the audit trail")


@never_cache
def patient_access_report(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Every look at one patient's record: who, which organisation, what, when, on what basis."""
    _privacy_officer(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    record_look_at_details(
        actor=actor_from_request(request),
        patient=patient,
        basis=AccessBasis.PRIVACY_REVIEW,
        context=context_from_request(request),
    )
    events = access_report(patient)
    if request.GET.get("format") == "csv":
        return _csv(patient, events)
    if request.GET.get("format") == "pdf":
        response = HttpResponse(access_report_pdf(patient, events), content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="access-report-{patient.nhs_number}.pdf"'
        )
        return response
    if request.GET.get("format") == "fhir":
        response = JsonResponse(audit_bundle(events.iterator(2000), patient.nhs_number))
        response["Content-Type"] = "application/fhir+json"
        response["Content-Disposition"] = (
            f'attachment; filename="access-report-{patient.nhs_number}.json"'
        )
        return response
    page = Paginator(events, 100).get_page(request.GET.get("page"))
    searches = patient.search_events.order_by("-occurred_at")[:100]
    return render(
        request,
        "audit/access_report.html",
        {"patient": patient, "events": page, "searches": searches},
    )


def _csv(patient: Patient, events) -> StreamingHttpResponse:
    def rows():
        yield CSV_COLUMNS
        for event in events.iterator(2000):
            yield [
                timezone.localtime(event.occurred_at).isoformat(timespec="seconds"),
                event.username,
                event.role,
                event.team_name,
                event.organisation_ods_code,
                " ".join(event.categories),
                len(event.resource_ids),
                f"{event.get_basis_display()} "
                f"{event.relationship_id or event.break_glass_id or ''}".strip(),
                event.get_channel_display(),
                event.purpose,
            ]

    response = StreamingHttpResponse(csv_lines(rows()), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="access-report-{patient.nhs_number}.csv"'
    )
    response["Cache-Control"] = "no-store"
    return response


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
