"""The partner API under /api/: the OAuth2 token endpoint, version 1 of the API, its OpenAPI
schema and its documentation pages. Every route is open to LoginRequiredMiddleware because the
API authenticates by bearer token instead; DRF's default permission then refuses everyone.

The documentation pages (Swagger UI and Redoc) come from drf-spectacular-sidecar's files, served
from here like every other static file, with their scripts and styles in files of their own, and
each with a Content-Security-Policy that adds only what that viewer needs, from this origin.
"""

from csp.decorators import csp_replace
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from oauth2_provider.views import TokenView

from access.api import RelationshipEndView, RelationshipsView
from audit.api import AccessReportView
from care_record.api import PatientRecordView, PatientSearchView, PatientSummaryView
from partner_api.responses import error_response

# What each viewer needs instead of the site's policy, nothing from another origin (not even the
# portal's NHS.UK fonts, which these pages do not use): both draw icons as
# data: images; Redoc writes its styles into <style> elements as it renders (styled-components),
# which only 'unsafe-inline' allows, and searches in a worker it makes from a blob: of its own
# script. Its scripts stay as strict as everywhere else. (Redoc's footer asks for its maker's
# logo from cdn.redoc.ly whatever its settings; the policy refuses it and the footer goes
# without: tests/browser/test_content_security_policy.py.)
SWAGGER_UI_CSP = {"img-src": ["'self'", "data:"], "font-src": ["'self'"]}
REDOC_CSP = {
    **SWAGGER_UI_CSP,
    "style-src": ["'self'", "'unsafe-inline'"],
    "worker-src": ["'self'", "blob:"],
}


def _open(view):
    return login_not_required(view)


@method_decorator(csp_replace(SWAGGER_UI_CSP), name="get")
class SwaggerUiView(SpectacularSwaggerSplitView):
    """Swagger UI, its start-up script fetched from this same address (`?script`), not inline."""

    template_name = "api/swagger_ui.html"


@method_decorator(csp_replace(REDOC_CSP), name="get")
class RedocView(SpectacularRedocView):
    template_name = "api/redoc.html"


@csrf_exempt  # bearer tokens, not cookies: nothing here for a forged form to ride on
@login_not_required
def not_found(request: HttpRequest) -> JsonResponse:
    """Any other address under /api/: 404 in the API's own error format, not the portal's page."""
    return error_response(request, 404, "not-found", "Not found.")


urlpatterns = [
    path("oauth/token/", _open(TokenView.as_view()), name="api-token"),
    path("v1/schema/", _open(SpectacularAPIView.as_view()), name="api-schema"),
    path("v1/docs/", _open(SwaggerUiView.as_view(url_name="api-schema")), name="api-docs"),
    path("v1/redoc/", _open(RedocView.as_view(url_name="api-schema")), name="api-redoc"),
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
