"""Care relationships started and ended by administrators' systems, through the API (JSON)."""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from access import services
from access.api_auth import actor_from_api_request
from access.exceptions import AccessDenied
from access.models import ApiClient, CareRelationship, Team
from access.policy import Actor, manages_relationships
from partner_api.errors import ApiError
from partner_api.permissions import END_USER
from partner_api.responses import problem_responses
from partner_api.schema import ID_SCHEMA, NHS_NUMBER_SCHEMA, WRITTEN_TEXT_PATTERN
from partner_api.views import LARGEST_ID, ScopedView, row_or_404
from records.limits import FREE_TEXT_MAX_LENGTH, NHS_NUMBER_INPUT_MAX_LENGTH
from records.models import Patient
from records.nhs_numbers import normalise_nhs_number


@extend_schema_field(NHS_NUMBER_SCHEMA)
class NhsNumberField(serializers.CharField):
    """An NHS number, read as its ten digits (separators dropped, the check digit checked)."""

    def to_internal_value(self, data) -> str:
        try:
            return normalise_nhs_number(super().to_internal_value(data))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


@extend_schema_field(
    {"type": "string", "maxLength": FREE_TEXT_MAX_LENGTH, "pattern": WRITTEN_TEXT_PATTERN}
)
class ReasonField(serializers.CharField):
    """A reason a person writes: not blank, FREE_TEXT_MAX_LENGTH at most (records.limits)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(max_length=FREE_TEXT_MAX_LENGTH, **kwargs)


class RelationshipIn(serializers.Serializer):
    nhs_number = NhsNumberField(max_length=NHS_NUMBER_INPUT_MAX_LENGTH)
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
    """Start a care relationship (administrators' systems). One already in place (the same
    team, patient and kind, with overlapping dates, not ended) is not made twice: 409."""

    required_scope = ApiClient.Scope.RELATIONSHIP_WRITE

    @extend_schema(
        operation_id="relationship_create",
        request=RelationshipIn,
        responses=problem_responses(201, RelationshipOut, 400, 401, 403, 404, 409, 429),
        parameters=[END_USER],
    )
    def post(self, request: Request) -> Response:
        actor = _administrator(request)
        data = _valid(RelationshipIn, request)
        patient = Patient.objects.current().filter(nhs_number=data["nhs_number"]).first()
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
        relationship = row_or_404(CareRelationship.objects.all(), relationship_id)
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
