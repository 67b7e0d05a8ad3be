"""The partner API under /api/: the OAuth2 token endpoint, version 1 of the API, its OpenAPI
schema and its documentation pages. Every route is open to LoginRequiredMiddleware because the
API authenticates by bearer token instead; DRF's default permission then refuses everyone.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from oauth2_provider.views import TokenView

from access.api import RelationshipEndView, RelationshipsView
from audit.api import AccessReportView
from care_record.api import PatientRecordView, PatientSearchView, PatientSummaryView
from partner_api.renderers import FHIR_JSON
from partner_api.responses import PROBLEM_JSON, PROBLEM_TYPES, operation_outcome


def _open(view):
    return login_not_required(view)


def error_response(request: HttpRequest, status: int, code: str, title: str) -> JsonResponse:
    """An error answered outside DRF's views in the API's own format: an OperationOutcome on
    FHIR routes, problem JSON elsewhere."""
    if request.path.startswith("/api/v1/fhir/"):
        body, content_type = operation_outcome(code, title), FHIR_JSON
    else:
        body = {"type": PROBLEM_TYPES + code, "title": title, "status": status, "code": code}
        content_type = PROBLEM_JSON
    response = JsonResponse(body, status=status, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # bearer tokens, not cookies: nothing here for a forged form to ride on
@login_not_required
def not_found(request: HttpRequest) -> JsonResponse:
    """Any other address under /api/: 404 in the API's own error format, not the portal's page."""
    return error_response(request, 404, "not-found", "Not found.")


urlpatterns = [
    path("oauth/token/", _open(TokenView.as_view()), name="api-token"),
    path("v1/schema/", _open(SpectacularAPIView.as_view()), name="api-schema"),
    path("v1/docs/", _open(SpectacularSwaggerView.as_view(url_name="api-schema")), name="api-docs"),
    path("v1/redoc/", _open(SpectacularRedocView.as_view(url_name="api-schema")), name="api-redoc"),
    path("v1/fhir/Patient", _open(PatientSearchView.as_view()), name="api-patient-search"),
    path(
        "v1/fhir/Patient/<int:patient_id>/$summary",
        _open(PatientSummaryView.as_view()),
        name="api-patient-summary",
    ),
    path(
        "v1/fhir/Patient/<int:patient_id>/record/<str:category>",
        _open(PatientRecordView.as_view()),
        name="api-patient-record",
    ),
    path("v1/fhir/AuditEvent", _open(AccessReportView.as_view()), name="api-access-report"),
    path("v1/relationships", _open(RelationshipsView.as_view()), name="api-relationships"),
    path(
        "v1/relationships/<int:relationship_id>/end",
        _open(RelationshipEndView.as_view()),
        name="api-relationship-end",
    ),
    re_path(r"", not_found),
]
