"""Django admin for the identity register: sources, patients, links, merges and the review queue.

Every change goes through records.services, so the admin obeys the same rules and leaves the same
audit entries as any other way in.
"""

from collections.abc import Iterable

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.response import TemplateResponse

from records import services
from records.exceptions import IdentityError
from records.models import (
    IdentitySyncRun,
    Link,
    MatchCandidate,
    Patient,
    PatientMerge,
    SourceSystem,
    UnmatchedRecord,
)
from records.source_urls import validate_source_base_url


class MergeForm(forms.Form):
    kept = forms.ModelChoiceField(
        queryset=Patient.objects.none(), widget=forms.RadioSelect, label="Keep this record"
    )
    reason = forms.CharField(widget=forms.Textarea, label="Why are these the same person?")

    def __init__(self, *args, patients: list[Patient], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kept"].queryset = Patient.objects.filter(pk__in=[p.pk for p in patients])


def _run_service(request: HttpRequest, items: Iterable, action, done: str) -> None:
    """Apply one service call per selected row and report each refusal in plain words."""
    succeeded = 0
    for item in items:
        try:
            action(item)
        except (IdentityError, ValidationError, IntegrityError) as exc:
            if isinstance(exc, IntegrityError):
                message = "it changed while you were working; reload and try again"
            else:
                message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            messages.error(request, f"{item}: {message}")
            continue
        succeeded += 1
    if succeeded:
        messages.success(request, f"{succeeded} {done}.")


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class SourceSystemForm(forms.ModelForm):
    """The model's own check of the base URL, and also: not the origin this form was sent to."""

    base_url = forms.URLField(label="FHIR base URL", max_length=500, assume_scheme="https")
    request: HttpRequest | None = None  # set by SourceSystemAdmin.get_form

    class Meta:
        model = SourceSystem
        fields = [
            "ods_code",
            "name",
            "kind",
            "base_url",
            "credentials_ref",
            "timeout_seconds",
            "enabled",
        ]

    def clean_base_url(self) -> str:
        value = self.cleaned_data["base_url"]
        validate_source_base_url(value, request=self.request)
        return value


@admin.register(SourceSystem)
class SourceSystemAdmin(admin.ModelAdmin):
    form = SourceSystemForm
    list_display = ["name", "ods_code", "kind", "base_url", "timeout_seconds", "enabled"]
    list_filter = ["kind", "enabled"]
    search_fields = ["name", "ods_code"]

    def get_form(self, request: HttpRequest, obj=None, change: bool = False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        form.request = request  # a class made for this request (modelform_factory)
        return form


class ReadOnlyInline(admin.TabularInline):
    """Rows shown beside their parent; changed only through the services' actions."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj=None) -> list[str]:
        return list(self.fields)

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class LinkInline(ReadOnlyInline):
    model = Link
    fields = ["source", "local_id", "matched_by", "match_score", "confirmed_by", "confirmed_at"]


@admin.register(Patient)
class PatientAdmin(admin.ModelAdmin):
    list_display = [
        "family_name",
        "given_names",
        "formatted_nhs_number",
        "birth_date",
        "postcode",
        "gp_practice_name",
        "merged_into",
    ]
    search_fields = ["=nhs_number", "family_name", "postcode"]
    list_filter = ["sex", "gp_practice_name"]
    readonly_fields = ["merged_into", "created_at", "updated_at"]
    inlines = [LinkInline]
    show_full_result_count = False
    actions = ["merge_selected"]

    def get_readonly_fields(self, request: HttpRequest, obj: Patient | None = None) -> list[str]:
        # Changing an NHS number would silently re-identify every link: merge instead.
        return [*self.readonly_fields, "nhs_number"] if obj else self.readonly_fields

    def has_merge_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("records.add_patientmerge")

    @admin.action(description="Merge the two selected records (same person)", permissions=["merge"])
    def merge_selected(self, request: HttpRequest, queryset: QuerySet):
        patients = list(queryset.order_by("created_at", "pk")[:3])
        if len(patients) != 2:
            messages.error(request, "Select exactly two records to merge.")
            return None
        form = MergeForm(request.POST if "confirm" in request.POST else None, patients=patients)
        if form.is_valid():
            kept = form.cleaned_data["kept"]
            retired = next(p for p in patients if p.pk != kept.pk)
            _run_service(
                request,
                [retired],
                lambda patient: services.merge_patients(
                    kept=kept,
                    retired=patient,
                    reason=form.cleaned_data["reason"],
                    actor=request.user,
                ),
                f"record merged into {kept}",
            )
            return None
        return TemplateResponse(
            request,
            "admin/records/patient/merge.html",
            {
                **self.admin_site.each_context(request),
                "title": "Merge two records of one person",
                "patients": patients,
                "form": form,
                "opts": self.model._meta,
            },
        )

    @admin.display(description="NHS number", ordering="nhs_number")
    def formatted_nhs_number(self, obj: Patient) -> str:
        return obj.formatted_nhs_number


@admin.register(Link)
class LinkAdmin(ReadOnlyAdmin):
    list_display = ["patient", "source", "local_id", "matched_by", "match_score", "confirmed_at"]
    list_filter = ["source", "matched_by"]
    search_fields = ["=patient__nhs_number", "=local_id"]
    list_select_related = ["patient", "source"]
    actions = ["unlink_selected"]
    show_full_result_count = False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("records.delete_link")

    def delete_model(self, request: HttpRequest, obj: Link) -> None:
        services.unlink(link=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for link in queryset:
            services.unlink(link=link, actor=request.user)

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Unlink the selected source records", permissions=["delete"])
    def unlink_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _run_service(
            request,
            queryset,
            lambda link: services.unlink(link=link, actor=request.user),
            "link(s) undone",
        )


class MatchCandidateInline(ReadOnlyInline):
    model = MatchCandidate
    fields = ["patient", "score", "breakdown", "status", "reviewed_by", "reviewed_at"]


@admin.register(UnmatchedRecord)
class UnmatchedRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "source",
        "local_id",
        "given_names",
        "family_name",
        "birth_date",
        "postcode",
        "reason",
        "status",
    ]
    list_filter = ["status", "reason", "source"]
    search_fields = ["=local_id", "family_name"]
    list_select_related = ["source"]
    inlines = [MatchCandidateInline]
    actions = ["dismiss_selected"]

    @admin.action(description="No match in the register: dismiss", permissions=["review"])
    def dismiss_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _run_service(
            request,
            queryset,
            lambda record: services.dismiss_unmatched(record=record, actor=request.user),
            "record(s) dismissed",
        )

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("records.change_unmatchedrecord")


@admin.register(MatchCandidate)
class MatchCandidateAdmin(ReadOnlyAdmin):
    """The review queue: each row a register patient who may be the person behind a record."""

    list_display = [
        "record",
        "record_born",
        "record_postcode",
        "patient",
        "patient_born",
        "patient_postcode",
        "score",
        "status",
    ]
    list_filter = ["status", "record__source"]
    ordering = ["record__first_seen_at", "-score"]
    list_select_related = ["record__source", "patient", "reviewed_by"]
    actions = ["confirm_selected", "reject_selected"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(record__status=UnmatchedRecord.Status.PENDING)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("records.change_matchcandidate")

    @admin.display(description="born (source)")
    def record_born(self, obj: MatchCandidate):
        return obj.record.birth_date

    @admin.display(description="postcode (source)")
    def record_postcode(self, obj: MatchCandidate) -> str:
        return obj.record.postcode

    @admin.display(description="born (register)")
    def patient_born(self, obj: MatchCandidate):
        return obj.patient.birth_date

    @admin.display(description="postcode (register)")
    def patient_postcode(self, obj: MatchCandidate) -> str:
        return obj.patient.postcode

    @admin.action(description="Same person: link the record", permissions=["review"])
    def confirm_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _run_service(
            request,
            queryset,
            lambda candidate: services.confirm_candidate(candidate=candidate, actor=request.user),
            "record(s) linked",
        )

    @admin.action(description="Not the same person: reject", permissions=["review"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _run_service(
            request,
            queryset,
            lambda candidate: services.reject_candidate(candidate=candidate, actor=request.user),
            "candidate(s) rejected",
        )


@admin.register(PatientMerge)
class PatientMergeAdmin(ReadOnlyAdmin):
    list_display = ["kept", "retired", "merged_by", "merged_at", "undone_at"]
    list_select_related = ["kept", "retired", "merged_by"]
    actions = ["undo_selected"]

    def has_undo_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("records.change_patientmerge")

    @admin.action(description="Undo the selected merges", permissions=["undo"])
    def undo_selected(self, request: HttpRequest, queryset: QuerySet) -> None:
        _run_service(
            request,
            queryset,
            lambda merge: services.unmerge(merge=merge, actor=request.user),
            "merge(s) undone",
        )


@admin.register(IdentitySyncRun)
class IdentitySyncRunAdmin(ReadOnlyAdmin):
    list_display = [
        "source",
        "started_at",
        "status",
        "seen",
        "linked",
        "already_linked",
        "queued",
        "rejected",
        "error",
    ]
    list_filter = ["status", "source"]
    list_select_related = ["source"]
