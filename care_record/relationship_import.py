"""Pages of the care relationship import (access.importing): upload a CSV file, see what its
check found, import exactly that kept file, then see and download what happened to each row.

Each page that lists the file's rows names the patients it found in the register (NHS numbers
and their relationships already in place): it records the administrator's look at each of them.
"""

from django import forms
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from access import importing
from access.models import AccessBasis, RelationshipImport
from access.web import actor_from_request, require_administrator
from audit.request_context import context_from_request
from audit.services import record_looks_at_details
from records.models import Patient
from records.safe_csv import csv_lines


class UploadForm(forms.Form):
    file = forms.FileField(
        label="Upload a CSV file",
        error_messages={
            "required": "Select a CSV file of care relationships",
            "empty": "The selected file is empty",
            "invalid": "The selected file could not be read: choose it again",
        },
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > importing.MAX_BYTES:  # before it is read into memory
            raise forms.ValidationError(
                f"The selected file must be smaller than {importing.MAX_BYTES // 2**20} MB: "
                "split it into smaller files"
            )
        return upload


@never_cache
@require_http_methods(["GET", "POST"])
def upload_page(request: HttpRequest) -> HttpResponse:
    """Upload a file: it is kept, checked, and the check shown (nothing is written yet)."""
    require_administrator(request)
    form = UploadForm(request.POST, request.FILES) if request.method == "POST" else UploadForm()
    if form.is_bound and form.is_valid():
        upload = form.cleaned_data["file"]
        kept = importing.keep_upload(
            file_name=upload.name or "upload.csv", data=upload.read(), actor=request.user
        )
        return redirect("manage-import-check", import_id=kept.pk)
    return _upload_page(request, form, status=400 if form.errors else 200)


def _upload_page(
    request: HttpRequest, form: UploadForm, *, status: int, refused: str = ""
) -> HttpResponse:
    return render(
        request,
        "care_record/import.html",
        {
            "form": form,
            "refused": refused,
            "page_errors": bool(refused),
            "date_example": importing.DATE_EXAMPLE,
            "max_rows": importing.MAX_ROWS,
            "max_megabytes": importing.MAX_BYTES // 2**20,
            "kept_minutes": int(importing.IMPORT_KEPT_FOR.total_seconds() // 60),
        },
        status=status,
    )


@never_cache
@require_GET
def check_page(request: HttpRequest, import_id: int) -> HttpResponse:
    """What the check of a kept file found, and the button that imports exactly it."""
    require_administrator(request)
    try:
        kept = importing.kept_upload(import_id=import_id, actor=request.user)
    except importing.UploadExpired as exc:
        return _expired(request, exc)
    if kept.imported_at is not None:
        return redirect("manage-import-results", import_id=kept.pk)
    return _check_page(request, kept)


def _check_page(
    request: HttpRequest, kept: RelationshipImport, *, refused: str = "", status: int = 200
) -> HttpResponse:
    """The check of a kept file, row by row (each patient named, a recorded look)."""
    results = importing.checked_rows(kept)
    _record_looks(request, results)
    return render(
        request,
        "care_record/import_check.html",
        _context(kept, results, to_create=importing.to_create(results), refused=refused),
        status=status,
    )


@require_POST
def import_page(request: HttpRequest, import_id: int) -> HttpResponse:
    """Import the kept file that was checked; refused (on the check page) if it cannot be."""
    require_administrator(request)
    try:
        kept = importing.import_upload(
            import_id=import_id, actor=request.user, sha256=request.POST.get("sha256", "")
        )
    except importing.UploadExpired as exc:
        return _expired(request, exc)
    except importing.ImportRefused as exc:
        kept = importing.kept_upload(import_id=import_id, actor=request.user)
        if kept.imported_at is not None:
            return redirect("manage-import-results", import_id=kept.pk)
        return _check_page(request, kept, refused=str(exc), status=409)
    return redirect("manage-import-results", import_id=kept.pk)


@never_cache
@require_GET
def results_page(request: HttpRequest, import_id: int) -> HttpResponse:
    require_administrator(request)
    try:
        kept = importing.kept_upload(import_id=import_id, actor=request.user)
    except importing.UploadExpired as exc:
        return _expired(request, exc)
    if not kept.imported_rows:
        return redirect("manage-import-check", import_id=kept.pk)
    results = importing.imported_rows(kept)
    _record_looks(request, results)
    return render(request, "care_record/import_results.html", _context(kept, results))


@never_cache
@require_GET
def results_csv(request: HttpRequest, import_id: int) -> HttpResponse:
    """What happened to each row, as CSV (every cell through records.safe_csv)."""
    require_administrator(request)
    try:
        kept = importing.kept_upload(import_id=import_id, actor=request.user)
    except importing.UploadExpired as exc:
        return _expired(request, exc)
    results = importing.imported_rows(kept) or importing.checked_rows(kept)
    _record_looks(request, results)
    response = StreamingHttpResponse(
        csv_lines(importing.results_csv_rows(results)), content_type="text/csv; charset=utf-8"
    )
    which = "results" if kept.imported_rows else "check"
    response["Content-Disposition"] = (
        f'attachment; filename="relationship-import-{kept.pk}-{which}.csv"'
    )
    return response


def _context(kept: RelationshipImport, results: list, **more) -> dict:
    counts = {outcome: 0 for outcome in importing.Outcome}
    for result in results:
        counts[result.outcome] += 1
    return {
        "kept": kept,
        "results": results,
        "counts": counts,
        "Outcome": importing.Outcome,
        "kept_until": kept.uploaded_at + importing.IMPORT_KEPT_FOR,
        # The title's "Error: " (base.html): a row in error, or the import refused.
        "page_errors": bool(more.get("refused"))
        or bool(counts[importing.Outcome.ERROR] + counts[importing.Outcome.NOT_IMPORTED]),
        **more,
    }


def _record_looks(request: HttpRequest, results: list) -> None:
    """The page names these patients of the register: one look at each, as any page does."""
    ids = sorted({result.patient_id for result in results if result.patient_id})
    patients = [
        patient
        for start in range(0, len(ids), 1000)
        for patient in Patient.objects.filter(pk__in=ids[start : start + 1000])
    ]
    if patients:
        record_looks_at_details(
            actor=actor_from_request(request),
            patients=patients,
            basis=AccessBasis.ADMINISTRATION,
            context=context_from_request(request),
        )


def _expired(request: HttpRequest, exc: importing.UploadExpired) -> HttpResponse:
    """The upload page again, saying the kept file has gone."""
    return _upload_page(request, UploadForm(), status=410, refused=str(exc))
