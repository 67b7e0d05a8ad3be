"""Privacy officers' access reports: find any patient, read who has looked at their record
(filtered by dates, organisation, person, basis and channel) as a page, PDF, CSV or FHIR, and
answer a subject access request with a file that is recorded with what it held.

Nobody else opens these pages (404). Finding someone leaves a search event; opening their report
in any format is a look at their personal details, recorded as any look is.
"""

import json
from urllib.parse import urlencode

from django import forms
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access.models import AccessBasis
from access.web import actor_from_request, require_privacy_officer
from audit.csv_export import access_report_rows, data_dictionary_rows
from audit.fhir import audit_bundle
from audit.models import Channel, SubjectAccessRequest
from audit.patient_finder import FindForm
from audit.pdf import access_report_pdf
from audit.report import ROLE_LABELS, ReportFilters, iter_looks, looks_page
from audit.request_context import context_from_request
from audit.review_selectors import emergency_accesses_to
from audit.selectors import find_patients_for_report, report_choices
from audit.services import record_look_at_details, record_search, record_subject_access_request
from audit.trail_dates import TrailDateField
from records.form_fields import PlainForm
from records.models import Patient
from records.safe_csv import csv_lines

FINDER_PURPOSE = "access report"
CONTENT_TYPES = {
    SubjectAccessRequest.Format.PDF: "application/pdf",
    SubjectAccessRequest.Format.CSV: "text/csv; charset=utf-8",
    SubjectAccessRequest.Format.FHIR: "application/fhir+json",
}
EXTENSIONS = {"pdf": "pdf", "csv": "csv", "fhir": "json"}


@never_cache
@require_http_methods(["GET", "POST"])
def find_patient(request: HttpRequest) -> HttpResponse:
    """Anyone on the register, for their access report. NHS numbers and names are posted, never
    put in the address (logs, history, Referer); each search is recorded, whom it found too. The
    results say who each person is and nothing of their record."""
    require_privacy_officer(request)
    form = FindForm(request.POST if request.method == "POST" else None)
    found = None
    if request.method == "POST" and form.is_valid():
        actor = actor_from_request(request)
        query = form.query()
        found = find_patients_for_report(query)
        for patient in found or [None]:
            record_search(
                user=request.user,
                team=actor.team,
                role=actor.role,
                purpose=FINDER_PURPOSE,
                query=str(query),
                found=patient,
                channel=Channel.WEB,
                context=context_from_request(request),
            )
    return render(request, "audit/find_patient_report.html", {"form": form, "found": found})


class ReportFilterForm(PlainForm):
    """The report's filters, from the address (they name no patient) or a posted request."""

    since = TrailDateField(
        what="the start date", label="From", required=False, help_text="For example, 1 3 2026"
    )
    until = TrailDateField(
        what="the end date", label="To", required=False, help_text="The day included"
    )
    organisation = forms.ChoiceField(label="Organisation", required=False)
    user = forms.TypedChoiceField(label="Person", required=False, coerce=int, empty_value=None)
    basis = forms.ChoiceField(
        label="Basis", required=False, choices=[("", "Any"), *AccessBasis.choices]
    )
    channel = forms.ChoiceField(
        label="Channel", required=False, choices=[("", "Any"), *Channel.choices]
    )

    def __init__(self, data, *, patient: Patient) -> None:
        super().__init__(data)
        organisations, users = report_choices(patient)
        offered_codes = [(code, f"{names} ({code})") for code, names in organisations]
        offered_people = [(str(pk), name) for pk, name in users]
        # One from before the newest looks (a link, an earlier page) is taken as it is.
        code, person = (data or {}).get("organisation", ""), (data or {}).get("user", "")
        if code and len(code) <= 10 and code.isalnum() and code not in dict(offered_codes):
            offered_codes.append((code, code))
        if person.isdigit() and 0 < int(person) < 2**63 and person not in dict(offered_people):
            offered_people.append((person, f"Person {person}"))
        self.fields["organisation"].choices = [("", "Any"), *offered_codes]
        self.fields["user"].choices = [("", "Anyone"), *offered_people]

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", "The end date must be the same as or after the start date.")
        return data

    def filters(self) -> ReportFilters:
        """The filters given, or none at all if any is wrong (the page says which)."""
        if not self.is_valid():
            return ReportFilters()
        data = self.cleaned_data
        return ReportFilters(
            since=data["since"],
            until=data["until"],
            organisation=data["organisation"],
            user_id=data["user"],
            basis=data["basis"],
            channel=data["channel"],
        )


def _filter_values(filters: ReportFilters) -> dict[str, str]:
    """The filters given, as the form's fields name them (for the address and hidden fields)."""
    values = {
        "since": filters.since.isoformat() if filters.since else "",
        "until": filters.until.isoformat() if filters.until else "",
        "organisation": filters.organisation,
        "user": "" if filters.user_id is None else str(filters.user_id),
        "basis": filters.basis,
        "channel": filters.channel,
    }
    return {key: value for key, value in values.items() if value}


def _record_look(request: HttpRequest, patient: Patient) -> None:
    record_look_at_details(
        actor=actor_from_request(request),
        patient=patient,
        basis=AccessBasis.PRIVACY_REVIEW,
        context=context_from_request(request),
    )


@never_cache
@require_GET
def patient_access_report(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Every look at one patient's record, filtered: the page, or ?format=pdf, csv or fhir."""
    require_privacy_officer(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    _record_look(request, patient)
    filter_form = ReportFilterForm(request.GET, patient=patient)
    filters = filter_form.filters()
    chosen = request.GET.get("format", "")
    if chosen in SubjectAccessRequest.Format.values and not filter_form.errors:
        return _download(patient, filters, chosen)
    return _report_page(request, patient, filter_form, filters, SubjectAccessForm())


def _report_page(request, patient, filter_form, filters, request_form) -> HttpResponse:
    values = _filter_values(filters)
    return render(
        request,
        "audit/access_report.html",
        {
            "patient": patient,
            "looks": looks_page(patient, request.GET.get("page"), **filters.kwargs()),
            "filter_form": filter_form,
            "filters": filters,
            "filter_query": urlencode(values),
            "hidden_filters": values,
            "request_form": request_form,
            "requests": patient.subject_access_requests.select_related("recorded_by")[:50],
            "searches": patient.search_events.select_related("user").order_by("-occurred_at")[:100],
            "role_labels": ROLE_LABELS,
            "emergency_accesses": emergency_accesses_to(patient.pk),
        },
    )


def _file_name(patient: Patient, chosen: str) -> str:
    return f"access-report-{patient.nhs_number}.{EXTENSIONS[chosen]}"


def _attachment(response: HttpResponse, name: str) -> HttpResponse:
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Cache-Control"] = "no-store"
    return response


def _download(patient: Patient, filters: ReportFilters, chosen: str) -> HttpResponse:
    """The report as a file, to read or to pass on (not for a request: nothing else recorded)."""
    looks = iter_looks(patient, **filters.kwargs())
    name = _file_name(patient, chosen)
    if chosen == SubjectAccessRequest.Format.CSV:  # streamed: the trail may be long
        response = StreamingHttpResponse(
            csv_lines(access_report_rows(looks)), content_type=CONTENT_TYPES[chosen]
        )
        return _attachment(response, name)
    content, _ = _produce(patient, filters, chosen)
    return _attachment(HttpResponse(content, content_type=CONTENT_TYPES[chosen]), name)


def _produce(
    patient: Patient, filters: ReportFilters, chosen: str, *, for_a_request: bool = False
) -> tuple[bytes, int]:
    """The report as the bytes of one file, and how many looks it lists. A file for a subject
    access request goes outside the organisation: it leaves out the staff's network addresses
    and the internal request ids (the FHIR file is the only one that carries them)."""
    looks = list(iter_looks(patient, **filters.kwargs()))
    if chosen == SubjectAccessRequest.Format.PDF:
        content = access_report_pdf(patient, looks, filters=filters)
    elif chosen == SubjectAccessRequest.Format.CSV:
        content = "".join(csv_lines(access_report_rows(looks))).encode()
    else:
        bundle = audit_bundle(looks, patient.nhs_number, internal=not for_a_request)
        content = json.dumps(bundle).encode()
    return content, len(looks)


class SubjectAccessForm(PlainForm):
    """Who asked, when, and where the file goes."""

    requested_by = forms.ChoiceField(
        label="Who asked",
        choices=SubjectAccessRequest.Requester.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose who asked for the report"},
    )
    requester_name = forms.CharField(
        label="Their name",
        max_length=200,
        error_messages={"required": "Enter the name of the person who asked"},
    )
    requester_authority = forms.CharField(
        label="For a representative: on what authority (optional)",
        max_length=200,
        required=False,
        help_text="For example: lasting power of attorney for health and welfare.",
    )
    received_on = TrailDateField(
        what="the date the request was received",
        label="Request received on",
        help_text="For example, 2 3 2026",
    )
    format = forms.ChoiceField(
        label="File to send",
        choices=SubjectAccessRequest.Format.choices,
        widget=forms.RadioSelect,
        initial=SubjectAccessRequest.Format.PDF,
        error_messages={"required": "Choose the file to send"},
    )
    sent_to = forms.CharField(
        label="Sent to, and how",
        max_length=300,
        error_messages={"required": "Enter who the file is sent to, and how"},
        help_text="For example: the patient, by secure email to the address they gave.",
    )

    def clean_received_on(self):
        received = self.cleaned_data["received_on"]
        if received > timezone.localdate():
            raise ValidationError("The date received cannot be in the future.")
        return received

    def clean(self) -> dict:
        data = super().clean()
        representative = data.get("requested_by") == SubjectAccessRequest.Requester.REPRESENTATIVE
        if representative and not data.get("requester_authority", "").strip():
            self.add_error("requester_authority", "Say on what authority the representative asks.")
        return data


@never_cache
@require_POST
def subject_access_request(request: HttpRequest, patient_id: int) -> HttpResponse:
    """Answer a subject access request: the report (with the filters shown) as a file, recorded
    with who asked, where it goes and the file's SHA-256, in one transaction with the look."""
    require_privacy_officer(request)
    patient = get_object_or_404(Patient, pk=patient_id)
    filter_form = ReportFilterForm(request.POST, patient=patient)
    form = SubjectAccessForm(request.POST)
    if not (form.is_valid() and filter_form.is_valid()):
        _record_look(request, patient)
        return _report_page(request, patient, filter_form, filter_form.filters(), form)
    filters, chosen = filter_form.filters(), form.cleaned_data["format"]
    name = _file_name(patient, chosen)
    # The look first, in its own short transaction: it holds the patient's audit chain, which
    # every look at records on that chain waits for, so not while a long file is being built.
    _record_look(request, patient)
    content, looks = _produce(patient, filters, chosen, for_a_request=True)
    record_subject_access_request(
        patient=patient,
        actor=actor_from_request(request),
        requested_by=form.cleaned_data["requested_by"],
        requester_name=form.cleaned_data["requester_name"],
        requester_authority=form.cleaned_data["requester_authority"],
        received_on=form.cleaned_data["received_on"],
        filters=filters.as_json(),
        format=chosen,
        looks=looks,
        sent_to=form.cleaned_data["sent_to"],
        file_name=name,
        content=content,
    )
    return _attachment(HttpResponse(content, content_type=CONTENT_TYPES[chosen]), name)


@never_cache
@require_GET
def access_report_columns(request: HttpRequest) -> StreamingHttpResponse:
    """The access report CSV's data dictionary: each column, its meaning and its values."""
    require_privacy_officer(request)
    response = StreamingHttpResponse(
        csv_lines(data_dictionary_rows()), content_type="text/csv; charset=utf-8"
    )
    return _attachment(response, "access-report-columns.csv")
