"""Django admin for the identity register: sources, patients, links, merges and the review queue.

Every change goes through records.services, so the admin obeys the same rules and leaves the same
audit entries as any other way in. Patients' demographics are read-only here, and every page that
shows who a patient is records a look at them (ShowsPatients). Review decisions, merges and
their undoing are made in the portal (care_record/identity_review.py, identity_merging.py), each
confirmed and with a reason; the admin links there and offers no way around them. No patient is
ever deleted.
"""

from collections.abc import Iterable

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from records import services
from records.confidentiality import RESTRICTED_DETAILS
from records.exceptions import IdentityError
from records.models import (
    IdentitySyncRun,
    Link,
    MatchCandidate,
    Patient,
    PatientMerge,
    PatientMergeRequest,
    SourceSystem,
    SupersededNhsNumber,
    UnmatchedRecord,
)
from records.source_checks import check_source
from records.source_urls import validate_source_base_url

NOT_SHARED = "Not shared (restricted)"


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


class ShowsPatients:
    """For a ModelAdmin whose pages show who patients are: every list, object, history and
    delete page writes an access event for each patient it shows, through the admin site's
    record_patients_shown (lcr.admin_site), before the page is sent. `patients_on` names them."""

    def patients_on(self, objects: Iterable) -> Iterable[Patient]:
        """The patients that pages of these objects show."""
        raise NotImplementedError

    def patients_listed(self, objects: Iterable) -> Iterable[Patient]:
        """The patients a list of these objects shows (by default, as their own pages do)."""
        return self.patients_on(objects)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            self.admin_site.record_patients_shown(
                request, self.patients_listed(changelist.result_list)
            )
        return response

    def changeform_view(
        self, request: HttpRequest, object_id=None, form_url="", extra_context=None
    ):
        response = super().changeform_view(request, object_id, form_url, extra_context)
        return self._record_object_page(request, response)

    def history_view(self, request: HttpRequest, object_id, extra_context=None):
        response = super().history_view(request, object_id, extra_context)
        return self._record_object_page(request, response, object_id)

    def delete_view(self, request: HttpRequest, object_id, extra_context=None):
        response = super().delete_view(request, object_id, extra_context)
        return self._record_object_page(request, response)

    def log_deletions(self, request: HttpRequest, queryset) -> list:
        # Django's own admin log would keep each object's name (a patient's, or their NHS number
        # in a link's) for the admin's "Recent actions"; the change history (django-auditlog)
        # already records the deletion, made through records.services.
        return []

    def _record_object_page(self, request: HttpRequest, response, object_id=None):
        context = getattr(response, "context_data", None) or {}
        shown = context.get("original") or context.get("object")
        if shown is None and object_id is not None and response.status_code == 200:
            shown = self.get_object(request, unquote(object_id))
        if shown is not None and response.status_code == 200:
            self.admin_site.record_patients_shown(request, self.patients_on([shown]))
        return response


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
            "look_budget_seconds",
            "enabled",
            "alias_base_urls",
            "interface",
            "patient_search",
        ]

    def clean_base_url(self) -> str:
        value = self.cleaned_data["base_url"]
        validate_source_base_url(value, request=self.request)
        return value

    def clean_alias_base_urls(self) -> str:
        value = self.cleaned_data["alias_base_urls"]
        for line in value.splitlines():
            if line.strip():
                validate_source_base_url(line.strip(), request=self.request)
        return value


@admin.register(SourceSystem)
class SourceSystemAdmin(admin.ModelAdmin):
    form = SourceSystemForm
    list_display = [
        "name",
        "ods_code",
        "kind",
        "interface",
        "declared_fhir_version",
        "base_url",
        "timeout_seconds",
        "enabled",
        "wrong_patient_count",
    ]
    list_filter = ["kind", "interface", "enabled"]
    search_fields = ["name", "ods_code"]
    readonly_fields = ["declared_fhir_version", "wrong_patient_count", "wrong_patient_at"]
    actions = ["check_fhir_version"]

    @admin.action(description="Check the FHIR version each selected source declares")
    def check_fhir_version(self, request: HttpRequest, queryset) -> None:
        for source in queryset:
            problem = check_source(source=source)
            version = source.declared_fhir_version or "no version"
            if problem:
                messages.error(request, f"{source}: {problem}")
            else:
                messages.success(request, f"{source}: speaks FHIR {version}, as configured")

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


class SupersededNumberInline(ReadOnlyInline):
    """The NHS numbers PDS replaced with this patient's: sources still stating them mean them."""

    model = SupersededNhsNumber
    fields = ["nhs_number", "recorded_at"]
    verbose_name = "superseded NHS number"


@admin.register(Patient)
class PatientAdmin(ShowsPatients, ReadOnlyAdmin):
    """The register's patients, to read (their demographics come from the identity service and
    change only through records.services), and to merge two records of one person."""

    list_display = [
        "family_name",
        "given_names",
        "formatted_nhs_number",
        "birth_date",
        "shown_postcode",
        "shown_gp_practice",
        "merged_into",
    ]
    search_fields = ["=nhs_number", "family_name", "postcode"]
    list_filter = ["sex", "gp_practice_name"]
    inlines = [LinkInline, SupersededNumberInline]
    show_full_result_count = False
    # Merging is done in the portal (care_record/identity_merging.py), where a merge of records
    # that differ needs a second person; and no patient is ever deleted, here or anywhere.
    actions = None

    def patients_on(self, objects: Iterable[Patient]) -> Iterable[Patient]:
        return objects

    def get_fields(self, request: HttpRequest, obj: Patient | None = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if obj is None or not obj.restricted:
            return fields
        # A restricted person's page says why their details are missing, where they would be.
        at = fields.index(RESTRICTED_DETAILS[0]) if RESTRICTED_DETAILS[0] in fields else 0
        kept = [f for f in fields if f not in RESTRICTED_DETAILS]
        return [*kept[:at], "contact_notice", *kept[at:]]

    def get_readonly_fields(self, request: HttpRequest, obj: Patient | None = None) -> list:
        return [*super().get_readonly_fields(request, obj), "contact_notice"]

    @admin.display(description="contact details")
    def contact_notice(self, obj: Patient) -> str:
        return obj.contact.notice

    @admin.display(description="postcode", ordering="postcode")
    def shown_postcode(self, obj: Patient) -> str:
        return NOT_SHARED if obj.restricted else obj.contact.postcode

    @admin.display(description="GP practice", ordering="gp_practice_name")
    def shown_gp_practice(self, obj: Patient) -> str:
        return NOT_SHARED if obj.restricted else obj.contact.gp_practice_name

    @admin.display(description="NHS number", ordering="nhs_number")
    def formatted_nhs_number(self, obj: Patient) -> str:
        return obj.formatted_nhs_number


@admin.register(Link)
class LinkAdmin(ShowsPatients, ReadOnlyAdmin):
    list_display = ["patient", "source", "local_id", "matched_by", "match_score", "confirmed_at"]
    list_filter = ["source", "matched_by"]
    search_fields = ["=patient__nhs_number", "=local_id"]
    list_select_related = ["patient", "source"]
    actions = ["unlink_selected"]
    show_full_result_count = False

    def patients_on(self, objects: Iterable[Link]) -> Iterable[Patient]:
        return [link.patient for link in objects]

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
class UnmatchedRecordAdmin(ShowsPatients, ReadOnlyAdmin):
    """Source records waiting for review. The list names no one (a source's record of a person
    is who they are too); each record's page shows its details and its candidates, each
    candidate a look at that patient."""

    list_display = ["source", "local_id", "first_seen_at", "reason", "status", "review_in_portal"]
    list_filter = ["status", "reason", "source"]
    search_fields = ["=local_id"]
    list_select_related = ["source"]
    inlines = [MatchCandidateInline]
    # Decisions are made in the portal, each confirmed and with its reason.
    actions = None

    @admin.display(description="review")
    def review_in_portal(self, obj: UnmatchedRecord) -> str:
        return format_html(
            '<a href="{}">Review in the portal</a>',
            reverse("identity-record", kwargs={"record_id": obj.pk}),
        )

    def patients_on(self, objects: Iterable[UnmatchedRecord]) -> Iterable[Patient]:
        return [
            candidate.patient
            for record in objects
            for candidate in record.candidates.select_related("patient")
        ]

    def patients_listed(self, objects: Iterable[UnmatchedRecord]) -> Iterable[Patient]:
        return ()

    def get_fields(self, request: HttpRequest, obj: UnmatchedRecord | None = None) -> list[str]:
        fields = list(super().get_fields(request, obj))
        if (
            obj is not None
            and obj.candidates.filter(patient__in=Patient.objects.restricted()).exists()
        ):
            # It may be that restricted person's record: whatever postcode it held stays unsaid.
            fields = [f for f in fields if f != "postcode"]
        return fields


@admin.register(MatchCandidate)
class MatchCandidateAdmin(ShowsPatients, ReadOnlyAdmin):
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
        "review_in_portal",
    ]
    list_filter = ["status", "record__source"]
    ordering = ["record__first_seen_at", "-score"]
    list_select_related = ["record__source", "patient", "reviewed_by"]
    actions = None  # decided in the portal (identity-record), confirmed and with a reason

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(record__status__in=UnmatchedRecord.WAITING)

    @admin.display(description="review")
    def review_in_portal(self, obj: MatchCandidate) -> str:
        return format_html(
            '<a href="{}">Review in the portal</a>',
            reverse("identity-record", kwargs={"record_id": obj.record_id}),
        )

    def patients_on(self, objects: Iterable[MatchCandidate]) -> Iterable[Patient]:
        return [candidate.patient for candidate in objects]

    @admin.display(description="born (source)")
    def record_born(self, obj: MatchCandidate):
        return obj.record.birth_date

    @admin.display(description="postcode (source)")
    def record_postcode(self, obj: MatchCandidate) -> str:
        # The source's record may be the restricted person this candidate is.
        return NOT_SHARED if obj.patient.restricted else obj.record.postcode

    @admin.display(description="born (register)")
    def patient_born(self, obj: MatchCandidate):
        return obj.patient.birth_date

    @admin.display(description="postcode (register)")
    def patient_postcode(self, obj: MatchCandidate) -> str:
        return NOT_SHARED if obj.patient.restricted else obj.patient.contact.postcode


@admin.register(PatientMerge)
class PatientMergeAdmin(ShowsPatients, ReadOnlyAdmin):
    list_display = ["kept", "retired", "merged_by", "merged_at", "undone_at", "in_portal"]
    list_select_related = ["kept", "retired", "merged_by"]
    actions = None  # undone in the portal (identity-merge), confirmed and with a reason

    @admin.display(description="undo")
    def in_portal(self, obj: PatientMerge) -> str:
        return format_html(
            '<a href="{}">Open in the portal</a>',
            reverse("identity-merge", kwargs={"merge_id": obj.pk}),
        )

    def patients_on(self, objects: Iterable[PatientMerge]) -> Iterable[Patient]:
        return [patient for merge in objects for patient in (merge.kept, merge.retired)]


@admin.register(PatientMergeRequest)
class PatientMergeRequestAdmin(ShowsPatients, ReadOnlyAdmin):
    """Merges asked for, to read; approved or refused in the portal by a second person."""

    list_display = ["kept", "retired", "requested_by", "requested_at", "status", "decided_by"]
    list_filter = ["status"]
    list_select_related = ["kept", "retired", "requested_by", "decided_by"]
    actions = None

    def patients_on(self, objects: Iterable[PatientMergeRequest]) -> Iterable[Patient]:
        return [patient for asked in objects for patient in (asked.kept, asked.retired)]


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
        "superseded",
        "error",
    ]
    list_filter = ["status", "source"]
    list_select_related = ["source"]
