"""The audit trail in the admin: to read, never to change. Neither the access events nor the change
history name a patient here: a privacy officer's access report (a look of its own) does that."""

from auditlog.admin import LogEntryAdmin
from auditlog.models import LogEntry
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.models import AccessEvent, PatientVisit
from records.admin import ReadOnlyAdmin

# The change history of these models names patients (their demographics, or their NHS number
# in a link's or a candidate's name) or keeps free text that may (an objection's notes, why
# glass was broken, why a team cares for someone): left out of the admin's list of changes.
NAMES_PATIENTS = (
    ("access", "carerelationship"),
    ("access", "objection"),
    ("access", "breakglassaccess"),
    ("records", "patient"),
    ("records", "link"),
    ("records", "unmatchedrecord"),
    ("records", "matchcandidate"),
    ("records", "patientmerge"),
    ("records", "patientmergerequest"),
)


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdmin):
    """Who looked, when, from which team and on what basis; the patient by their id only."""

    list_display = ["occurred_at", "username", "team_name", "patient_ref", "basis", "channel"]
    list_filter = ["basis", "channel"]
    search_fields = ["=username"]
    show_full_result_count = False
    exclude = ["patient"]
    readonly_fields = ["patient_ref"]

    @admin.display(description="patient (register id)")
    def patient_ref(self, obj: AccessEvent) -> int:
        return obj.patient_id

    def get_actions(self, request):
        return {}


@admin.register(PatientVisit)
class PatientVisitAdmin(ReadOnlyAdmin):
    """What patients did in their own pages (signed in, read who looked, asked, objected); the
    patient by their id only. Questions are answered on the privacy officers' own page."""

    list_display = ["occurred_at", "action", "patient_ref"]
    list_filter = ["action"]
    show_full_result_count = False
    exclude = ["patient"]
    readonly_fields = ["patient_ref"]

    @admin.display(description="patient (register id)")
    def patient_ref(self, obj: PatientVisit) -> int:
        return obj.patient_id

    def get_actions(self, request):
        return {}


class ChangeHistoryAdmin(LogEntryAdmin):
    """django-auditlog's own admin for the change history, without the entries that name
    patients, and read-only: the application's database role may only read and append to it
    (audit/privileges.py)."""

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict:
        return {}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        naming = [ContentType.objects.get_by_natural_key(*key).pk for key in NAMES_PATIENTS]
        return super().get_queryset(request).exclude(content_type_id__in=naming)


admin.site.unregister(LogEntry)  # registered by auditlog, an app listed before this one
admin.site.register(LogEntry, ChangeHistoryAdmin)
