"""FHIR R4 reads of the record for partner systems: find a patient by NHS number, a heading of
their record, and the summary the portal shows. Thin: who is asking, read_record, serialise.
"""

from django.core.exceptions import ValidationError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from access.api_auth import actor_from_api_request
from access.models import ApiClient
from access.policy import decide
from audit.models import Channel
from audit.request_context import context_from_request
from audit.services import record_search
from care_record.fhir_export import record_bundle, search_bundle
from care_record.reading import read_record
from partner_api.errors import ApiError
from partner_api.permissions import END_USER
from partner_api.responses import fhir_responses
from partner_api.schema import ID_SCHEMA, NHS_NUMBER_RULES
from partner_api.views import FhirView, row_or_404
from records.categories import ALL_CATEGORIES
from records.identifiers import NHS_NUMBER_SYSTEM
from records.models import Patient
from records.nhs_numbers import normalise_nhs_number

FHIR_ERRORS = (400, 401, 403, 404, 429, 503)


# The patient's id in a FHIR address, as the API reads it.
PATIENT_ID = OpenApiParameter("patient_id", ID_SCHEMA, OpenApiParameter.PATH)


def patient_or_404(patient_id: int) -> Patient:
    """A current (not merged away) register entry; absent, merged or out of range: 404."""
    return row_or_404(Patient.objects.current(), patient_id)


class PatientReadView(FhirView):
    required_scope = ApiClient.Scope.PATIENT_READ


class PatientSearchView(PatientReadView):
    """Find a patient by NHS number, among those this client's team may see."""

    @extend_schema(
        operation_id="patient_search",
        parameters=[
            OpenApiParameter(
                "identifier",
                {
                    "type": "string",
                    # (ECMA-262 patterns: "." and "|" escaped, nothing else)
                    "pattern": "^(" + NHS_NUMBER_SYSTEM.replace(".", r"\.") + r"\|)?[0-9]{10}$",
                    "format": "nhs-number-identifier",
                },
                OpenApiParameter.QUERY,
                required=True,
                description=f"{NHS_NUMBER_SYSTEM}|9990000018 (or the ten digits alone): "
                f"{NHS_NUMBER_RULES}.",
            ),
            END_USER,
        ],
        responses=fhir_responses(400, 401, 403, 429),
    )
    def get(self, request: Request) -> Response:
        actor = actor_from_api_request(request)
        nhs_number = _nhs_number(request.query_params.get("identifier", ""))
        patient = Patient.objects.current().filter(nhs_number=nhs_number).first()
        record_search(
            user=actor.user,
            team=actor.team,
            role=actor.role,
            purpose=f"API search ({actor.client_id})"[:40],
            query=nhs_number,
            found=patient,
            channel=Channel.API,
            context=context_from_request(request),
        )
        # Someone this team may not see is not there, as far as this client can tell.
        visible = [patient] if patient is not None and decide(actor, patient).allowed else []
        return Response(search_bundle(visible, request.build_absolute_uri()))


def _nhs_number(identifier: str) -> str:
    system, bar, value = identifier.rpartition("|")
    if not identifier:
        raise ApiError(400, "invalid", f"Give identifier={NHS_NUMBER_SYSTEM}|<NHS number>.")
    if bar and system not in ("", NHS_NUMBER_SYSTEM):
        raise ApiError(400, "unsupported-identifier", f"Only {NHS_NUMBER_SYSTEM} can be searched.")
    try:
        return normalise_nhs_number(value)
    except ValidationError as exc:
        raise ApiError(400, "invalid-nhs-number", " ".join(exc.messages)) from exc


class PatientRecordView(PatientReadView):
    """One heading of a patient's record: the source resources, their sources and states."""

    @extend_schema(
        operation_id="patient_record_category",
        parameters=[
            OpenApiParameter(
                "category", OpenApiTypes.STR, OpenApiParameter.PATH, enum=list(ALL_CATEGORIES)
            ),
            PATIENT_ID,
            END_USER,
        ],
        responses=fhir_responses(*FHIR_ERRORS),
    )
    def get(self, request: Request, patient_id: int, category: str) -> Response:
        actor = actor_from_api_request(request)
        if category not in ALL_CATEGORIES:
            raise ApiError(404, "unknown-category", f"Headings: {', '.join(ALL_CATEGORIES)}.")
        record = read_record(
            actor=actor,
            patient=patient_or_404(patient_id),
            channel=Channel.API,
            categories=[category],
            context=context_from_request(request),
        )
        return Response(record_bundle(record))


class PatientSummaryView(PatientReadView):
    """The summary the portal shows: the Patient and every heading this client's role may see."""

    @extend_schema(
        operation_id="patient_summary",
        parameters=[PATIENT_ID, END_USER],
        responses=fhir_responses(*FHIR_ERRORS),
    )
    def get(self, request: Request, patient_id: int) -> Response:
        record = read_record(
            actor=actor_from_api_request(request),
            patient=patient_or_404(patient_id),
            channel=Channel.API,
            context=context_from_request(request),
        )
        return Response(record_bundle(record, with_patient=True))
