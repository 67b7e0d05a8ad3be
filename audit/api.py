"""A patient's access report as FHIR R4 AuditEvents, for privacy officers' systems."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import actor_from_api_request
from access.exceptions import AccessDenied
from access.models import AccessBasis, ApiClient
from access.policy import reviews_break_glass
from audit.fhir import audit_event
from audit.models import Channel
from audit.request_context import context_from_request
from audit.selectors import access_report
from audit.services import record_look_at_details
from partner_api.errors import ApiError
from partner_api.permissions import END_USER
from partner_api.responses import fhir_responses
from partner_api.schema import ID_SCHEMA
from partner_api.views import LARGEST_ID, FhirView, row_or_404
from records.models import Patient

MOST_EVENTS = 1000


class AccessReportView(FhirView):
    """Every look at one patient's record, newest first (`_count` at a time, 1000 at most)."""

    required_scope = ApiClient.Scope.AUDIT_READ

    @extend_schema(
        operation_id="access_report",
        parameters=[
            OpenApiParameter("patient", ID_SCHEMA, OpenApiParameter.QUERY, required=True),
            OpenApiParameter(
                "_count",
                ID_SCHEMA,
                OpenApiParameter.QUERY,
                description="Default 100; more than 1000 is 1000.",
            ),
            END_USER,
        ],
        responses=fhir_responses(400, 401, 403, 404, 429),
    )
    def get(self, request: Request) -> Response:
        actor = actor_from_api_request(request)
        if not reviews_break_glass(actor):
            raise AccessDenied("only privacy officers' systems read the audit trail")
        patient = row_or_404(Patient.objects.current(), _number(request, "patient", None))
        count = min(_number(request, "_count", 100), MOST_EVENTS)
        record_look_at_details(
            actor=actor,
            patient=patient,
            basis=AccessBasis.PRIVACY_REVIEW,
            channel=Channel.API,
            context=context_from_request(request),
        )
        events = access_report(patient)
        entries = [
            {
                "fullUrl": f"urn:uuid:lcr-audit-{event.chain}-{event.sequence}",
                "resource": audit_event(event, patient.nhs_number),
                "search": {"mode": "match"},
            }
            for event in events[:count]
        ]
        return Response(
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": events.count(),
                "link": [{"relation": "self", "url": request.build_absolute_uri()}],
                "entry": entries,
            }
        )


def _number(request: Request, name: str, default: int | None) -> int:
    value = request.query_params.get(name)
    if value is None and default is not None:
        return default
    # ASCII digits only, and few enough that int() cannot refuse them (it does past 4,300).
    if value is None or not (value.isascii() and value.isdigit() and len(value) <= 19):
        raise ApiError(400, "invalid", f"{name} must be a positive whole number.")
    if not 0 < int(value) <= LARGEST_ID:
        raise ApiError(400, "invalid", f"{name} must be a positive whole number.")
    return int(value)
