"""Access events in the admin: to read, never to change (issue 5 adds the reports)."""

from django.contrib import admin

from audit.models import AccessEvent
from records.admin import ReadOnlyAdmin


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "username", "team_name", "patient", "basis", "channel"]
    list_filter = ["basis", "channel"]
    list_select_related = ["patient"]
    search_fields = ["=patient__nhs_number", "=username"]
    show_full_result_count = False

    def get_actions(self, request):
        return {}
