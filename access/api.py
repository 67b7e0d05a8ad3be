"""Care relationships started and ended by administrators' systems, through the API (JSON)."""

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from access import services
from access.api_auth import END_USER, HasScope, actor_from_api_request
from access.exceptions import AccessDenied
from access.models import ApiClient, CareRelationship, Team
from access.policy import Actor, manages_relationships
from lcr.api import ApiView, problem_responses
from lcr.api_errors import ApiError
from records.models import Patient
from records.nhs_numbers import normalise_nhs_number


class ApiClientAuthenticationScheme(OpenApiAuthenticationExtension):
    """Tells the OpenAPI schema how clients get a token, and which scope each route needs."""

    target_class = "access.api_auth.ApiClientAuthentication"
    name = "oauth2"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "oauth2",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": "/api/oauth/token/",
                    "scopes": settings.OAUTH2_PROVIDER["SCOPES"],
                }
            },
        }

    def get_security_requirement(self, auto_schema) -> dict:
        scope = getattr(auto_schema.view, "required_scope", "")
        return {self.name: [scope] if scope else []}


LARGEST_ID = 2**63 - 1  # a larger number names no row, and some databases cannot even compare it
# The schema of an id, as the API reads one (a larger or smaller number is a 404 or a 400).
ID_SCHEMA = {"type": "integer", "format": "int64", "minimum": 1, "maximum": LARGEST_ID}
# An NHS number as the schema states it: ten digits; what no pattern can state (the modulus 11
# check digit, a Scottish CHI number beginning with a date) the custom format and its description
# say. The API also takes the digits with spaces or hyphens.
NHS_NUMBER_RULES = (
    "the last digit is the modulus 11 check digit, and a Scottish CHI number (0100000000 to "
    "3112999999) begins with its holder's date of birth (DDMMYY)"
)
NHS_NUMBER_SCHEMA = {
    "type": "string",
    "pattern": "^[0-9]{10}$",
    "format": "nhs-number",
    "description": f"Ten digits: {NHS_NUMBER_RULES}.",
}
# Text a person writes (a reason): trimmed of white space, it may not be empty, and it may not
# hold NUL. The class is what Python's str.strip() removes, so that the schema says exactly what
# DRF's CharField refuses.
_NOT_SPACE = (
    r"[^\x00\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
WRITTEN_TEXT_PATTERN = rf"^[^\x00]*{_NOT_SPACE}[^\x00]*$"


class ScopedView(ApiView):
    permission_classes = [HasScope]
    required_scope: str = ""


@extend_schema_field(NHS_NUMBER_SCHEMA)
class NhsNumberField(serializers.CharField):
    """An NHS number, read as its ten digits (separators dropped, the check digit checked)."""

    def to_internal_value(self, data) -> str:
        try:
            return normalise_nhs_number(super().to_internal_value(data))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


@extend_schema_field({"type": "string", "maxLength": 2000, "pattern": WRITTEN_TEXT_PATTERN})
class ReasonField(serializers.CharField):
    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=2000, **kwargs)


class RelationshipIn(serializers.Serializer):
    nhs_number = NhsNumberField(max_length=20)
    team = serializers.IntegerField(
        min_value=1, max_value=LARGEST_ID, help_text="The id of the team that cares."
    )
    kind = serializers.ChoiceField(choices=CareRelationship.Kind.choices)
    reason = ReasonField()
    starts_on = serializers.DateField(required=False, help_text="Default: today.")
    ends_on = serializers.DateField(required=False, allow_null=True, help_text="Last day.")


class RelationshipEndIn(serializers.Serializer):
    reason = ReasonField()


class RelationshipOut(serializers.Serializer):
    id = serializers.IntegerField()
    patient = serializers.IntegerField(source="patient_id")
    nhs_number = serializers.CharField(source="patient.nhs_number")
    team = serializers.IntegerField(source="team_id", allow_null=True)
    kind = serializers.CharField()
    starts_on = serializers.DateField()
    ends_on = serializers.DateField(allow_null=True)
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField()


def _administrator(request: Request) -> Actor:
    actor = actor_from_api_request(request)
    if not manages_relationships(actor):
        raise AccessDenied("this client's role does not manage relationships")
    return actor


class RelationshipsView(ScopedView):
    """Start a care relationship (administrators' systems)."""

    required_scope = ApiClient.Scope.RELATIONSHIP_WRITE

    @extend_schema(
        operation_id="relationship_create",
        request=RelationshipIn,
        responses=problem_responses(201, RelationshipOut, 400, 401, 403, 404, 429),
        parameters=[END_USER],
    )
    def post(self, request: Request) -> Response:
        actor = _administrator(request)
        data = _valid(RelationshipIn, request)
        patient = Patient.objects.filter(
            nhs_number=data["nhs_number"], merged_into__isnull=True
        ).first()
        if patient is None:
            raise ApiError(400, "unknown-patient", "No patient has this NHS number.")
        team = Team.objects.filter(pk=data["team"]).first()
        if team is None:
            raise ApiError(400, "unknown-team", "No team has this id.")
        relationship = services.start_relationship(
            patient=patient,
            team=team,
            kind=data["kind"],
            reason=data["reason"],
            actor=actor.user,
            starts_on=data.get("starts_on"),
            ends_on=data.get("ends_on"),
        )
        return Response(RelationshipOut(relationship).data, status=201)


class RelationshipEndView(ScopedView):
    """End a care relationship now (administrators' systems)."""

    required_scope = ApiClient.Scope.RELATIONSHIP_WRITE

    @extend_schema(
        operation_id="relationship_end",
        request=RelationshipEndIn,
        responses=problem_responses(200, RelationshipOut, 400, 401, 403, 404, 429),
        parameters=[
            OpenApiParameter("relationship_id", ID_SCHEMA, OpenApiParameter.PATH),
            END_USER,
        ],
    )
    def post(self, request: Request, relationship_id: int) -> Response:
        actor = _administrator(request)
        data = _valid(RelationshipEndIn, request)
        if not 0 < relationship_id <= LARGEST_ID:
            raise ApiError(404, "not-found", "Not found.")
        relationship = get_object_or_404(CareRelationship, pk=relationship_id)
        ended = services.end_relationship(
            relationship=relationship, reason=data["reason"], actor=actor.user
        )
        return Response(RelationshipOut(ended).data)


def _valid(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    if not isinstance(request.data, dict):
        raise ApiError(400, "invalid", "Send a JSON object.")
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data
