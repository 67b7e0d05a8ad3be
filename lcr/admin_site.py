"""The product's Django admin site: every admin page that shows who a patient is writes an access
event for each patient on it, as any look does, and fails closed if it cannot.

The register's admin classes (records/admin.py, access/admin.py) name the patients on a page;
this site, above every app, records the looks (records cannot import the audit trail).
"""

from collections.abc import Iterable

from django.contrib import admin
from django.http import HttpRequest

from access.models import AccessBasis
from access.web import actor_from_request
from audit.request_context import context_from_request
from audit.services import record_look_at_details
from records.models import Patient


class CareRecordAdminSite(admin.AdminSite):
    site_header = "Shared care record administration"
    site_title = "Shared care record"

    def record_patients_shown(self, request: HttpRequest, patients: Iterable[Patient]) -> None:
        """One access event per patient the page shows (each once), on the basis of
        administration; raises AuditUnavailable (the page is not shown) if one cannot be written."""
        actor = actor_from_request(request)
        context = context_from_request(request)
        seen = set()
        for patient in patients:
            if patient is None or patient.pk in seen:
                continue
            seen.add(patient.pk)
            record_look_at_details(
                actor=actor,
                patient=patient,
                basis=AccessBasis.ADMINISTRATION,
                context=context,
            )
