"""Changes to who may see what: teams, care relationships, break-glass, objections.

The only code that grants or revokes django-guardian permissions on patients. Every change
records its actor in django-auditlog.
"""

import datetime
import logging

from auditlog.context import set_actor
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group, Permission
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from access.exceptions import AccessDenied, MembershipError, RelationshipError
from access.models import (
    VIEW_RECORD,
    VIEW_RECORD_CODENAME,
    ApiClient,
    BreakGlassAccess,
    CareRelationship,
    Membership,
    Objection,
    PatientGroupObjectPermission,
    PatientUserObjectPermission,
    Role,
    Team,
)
from access.policy import Actor, actor_for, may_break_glass, reviews_break_glass
from records.limits import free_text
from records.models import Patient
from records.services import system_user

logger = logging.getLogger(__name__)


def _text(value: str, what: str, error: type[Exception] = RelationshipError) -> str:
    """Free text as every path stores it (records.limits): stripped, not too long, storable."""
    try:
        return free_text(value, what=what)
    except ValidationError as exc:
        raise error(exc.messages[0]) from exc


@transaction.atomic
def create_team(*, name: str, ods_code: str, kind: str, actor: AbstractBaseUser) -> Team:
    with set_actor(actor):
        group = Group.objects.create(name=f"team:{ods_code}:{name}"[:150])
        return Team.objects.create(name=name, ods_code=ods_code, kind=kind, group=group)


@transaction.atomic
def add_member(
    *, team: Team, user: AbstractBaseUser, role: str, reason: str, actor: AbstractBaseUser
) -> Membership:
    """Put a user in a team in a role (or change their role there); they then see what the
    team's relationships allow. Recorded in the change history with the actor and the reason.
    Nobody adds themselves or changes their own role: an administrator must not be able to give
    themselves clinical access."""
    if user.pk == actor.pk:
        raise MembershipError("Nobody adds themselves to a team or changes their own role.")
    if role not in Role.values:
        raise MembershipError(f"Unknown role: {role}.")
    if not reason.strip():
        raise MembershipError("Say why this person joins the team in this role.")
    if not user.is_active:
        raise MembershipError(f"{user.get_username()} cannot sign in: their account is off.")
    with set_actor(actor):
        membership = Membership.objects.select_for_update().filter(user=user, team=team).first()
        if membership is not None and membership.role == role:
            return membership
        if membership is None:
            membership = Membership(user=user, team=team)
        membership.role, membership.change_reason = role, reason.strip()
        membership.save()
        user.groups.add(team.group)
    return membership


@transaction.atomic
def end_membership(*, membership: Membership, reason: str, actor: AbstractBaseUser) -> None:
    """Take a user out of a team: they no longer act for it or see what it sees. Recorded in the
    change history with the actor and the reason; nobody ends their own membership."""
    if membership.user_id == actor.pk:
        raise MembershipError("Nobody changes their own memberships.")
    if not reason.strip():
        raise MembershipError("Say why this person leaves the team.")
    with set_actor(actor):
        membership = (
            Membership.objects.select_for_update()
            .select_related("user", "team__group")
            .filter(pk=membership.pk)
            .first()
        )
        if membership is None:
            raise MembershipError("This membership has already ended.")
        membership.change_reason = reason.strip()
        membership.delete()
        membership.user.groups.remove(membership.team.group)


@transaction.atomic
def start_relationship(
    *,
    patient: Patient,
    kind: str,
    reason: str,
    actor: AbstractBaseUser,
    team: Team | None = None,
    user: AbstractBaseUser | None = None,
    starts_on: datetime.date | None = None,
    ends_on: datetime.date | None = None,
) -> CareRelationship:
    """Record that a team (or one user) cares for a patient; grants access once it has started."""
    if (team is None) == (user is None):
        raise RelationshipError("A care relationship is with a team or with one person.")
    reason = _text(reason, "the reason")
    if not reason:
        raise RelationshipError("Say why this team cares for this patient.")
    if kind not in CareRelationship.Kind.values:
        raise RelationshipError(f"Unknown kind of relationship: {kind}.")
    today = timezone.localdate()
    starts_on = starts_on or today
    if ends_on is not None and ends_on < starts_on:
        raise RelationshipError("A relationship cannot end before it starts.")
    if ends_on is not None and ends_on < today:
        raise RelationshipError("A relationship that has already ended grants nothing.")
    if patient.merged_into_id is not None:
        raise RelationshipError("This record was merged into another; use that one.")
    if user is not None and user.pk == actor.pk:
        raise RelationshipError("Nobody records a care relationship for themselves.")
    if team is not None and (
        Membership.objects.filter(team=team, user=actor).exists()
        or ApiClient.objects.filter(team=team, service_user=actor).exists()  # a partner system
    ):
        raise RelationshipError("Nobody records a care relationship for their own team.")
    with set_actor(actor):
        relationship = CareRelationship.objects.create(
            patient=patient,
            team=team,
            user=user,
            kind=kind,
            starts_on=starts_on,
            ends_on=ends_on,
            reason=reason,
            created_by=actor,
        )
        if relationship.in_force_on(today):
            _grant(relationship)
    return relationship


@transaction.atomic
def end_relationship(
    *, relationship: CareRelationship, reason: str, actor: AbstractBaseUser
) -> CareRelationship:
    """End a relationship now; access goes unless another active relationship still grants it."""
    relationship = CareRelationship.objects.select_for_update().get(pk=relationship.pk)
    if relationship.ended_at is not None:
        raise RelationshipError("This relationship has already ended.")
    reason = _text(reason, "the reason")
    if not reason:
        raise RelationshipError("Say why this relationship ends.")
    with set_actor(actor):
        relationship.ended_at, relationship.ended_by = timezone.now(), actor
        relationship.end_reason = reason
        relationship.save()
        _revoke_unless_still_granted(relationship)
    return relationship


def _holder(relationship: CareRelationship):
    return relationship.team.group if relationship.team_id else relationship.user


def _grant(relationship: CareRelationship) -> None:
    assign_perm(VIEW_RECORD, _holder(relationship), relationship.patient)
    relationship.granted_at = timezone.now()
    relationship.save(update_fields=["granted_at"])


def _revoke_unless_still_granted(relationship: CareRelationship) -> None:
    today = timezone.localdate()
    same_holder = CareRelationship.objects.in_force(today).filter(
        patient_id=relationship.patient_id,
        team_id=relationship.team_id,
        user_id=relationship.user_id,
    )
    if same_holder.exclude(pk=relationship.pk).exists():
        return
    remove_perm(VIEW_RECORD, _holder(relationship), relationship.patient)


def start_due_relationships() -> int:
    """Periodic: grant relationships whose start date has come."""
    today = timezone.localdate()
    started = 0
    for relationship in (
        CareRelationship.objects.in_force(today)
        .filter(granted_at__isnull=True)
        .select_related("team__group", "user", "patient")
    ):
        with transaction.atomic():
            _grant(relationship)
            started += 1
    return started


def end_expired_relationships() -> int:
    """Periodic: end relationships whose last day has passed (the policy already ignores them)."""
    today = timezone.localdate()
    system = system_user("system.access", "Access control")
    ended = 0
    for relationship in CareRelationship.objects.filter(
        ended_at__isnull=True, ends_on__lt=today
    ).select_related("team__group", "user", "patient"):
        end_relationship(relationship=relationship, reason="end date reached", actor=system)
        ended += 1
    return ended


def reconcile_grants() -> dict[str, int]:
    """Periodic safety net: guardian grants must match active relationships exactly.

    Removes any grant that no active relationship explains (for instance one made by hand)
    and adds any that is missing; both are logged as errors, since neither should happen.
    """
    # Grants are read before relationships: a relationship started in between has its grant
    # added again (ignored as a duplicate), and none is removed that a relationship explains.
    held = {
        model: {
            (holder, patient): pk
            for pk, holder, patient in model.objects.filter(
                permission__codename=VIEW_RECORD_CODENAME
            ).values_list("pk", holder_field, "content_object_id")
        }
        for model, holder_field in (
            (PatientGroupObjectPermission, "group_id"),
            (PatientUserObjectPermission, "user_id"),
        )
    }
    today = timezone.localdate()
    active = CareRelationship.objects.in_force(today)
    wanted = {
        PatientGroupObjectPermission: set(
            active.filter(team__isnull=False).values_list("team__group_id", "patient_id")
        ),
        PatientUserObjectPermission: set(
            active.filter(user__isnull=False).values_list("user_id", "patient_id")
        ),
    }
    permission = Permission.objects.get(
        codename=VIEW_RECORD_CODENAME, content_type__app_label="records"
    )
    counts = {"removed": 0, "added": 0}
    for model, holder_field in (
        (PatientGroupObjectPermission, "group_id"),
        (PatientUserObjectPermission, "user_id"),
    ):
        stray = [pk for key, pk in held[model].items() if key not in wanted[model]]
        if stray:
            logger.error("removing %d patient grants no relationship explains", len(stray))
            model.objects.filter(pk__in=stray).delete()
        missing = wanted[model] - set(held[model])
        if missing:
            logger.error("adding %d patient grants that active relationships lack", len(missing))
            model.objects.bulk_create(
                (
                    model(
                        **{holder_field: holder, "content_object_id": patient},
                        permission=permission,
                    )
                    for holder, patient in missing
                ),
                ignore_conflicts=True,
            )
        counts["removed"] += len(stray)
        counts["added"] += len(missing)
    return counts


@transaction.atomic
def break_glass(
    *, user: AbstractBaseUser, team: Team, patient: Patient, reason: str, explanation: str
) -> BreakGlassAccess:
    """Open a record in an emergency without a relationship: time-limited and reviewed."""
    if not may_break_glass(actor_for(user, team.pk)):
        raise AccessDenied("Your role cannot use emergency access.")
    if reason not in BreakGlassAccess.Reason.values:
        raise AccessDenied("Choose a reason from the list.")
    explanation = _text(explanation, "the explanation", AccessDenied)
    if not explanation:
        raise AccessDenied("Say why you need this record now.")
    now = timezone.now()
    with set_actor(user):
        access = BreakGlassAccess.objects.create(
            user=user,
            team=team,
            patient=patient,
            reason=reason,
            explanation=explanation,
            started_at=now,
            expires_at=now + datetime.timedelta(seconds=settings.LCR_BREAK_GLASS_SECONDS),
        )
    transaction.on_commit(lambda: _notify_privacy_officers(access), robust=True)
    return access


def _notify_privacy_officers(access: BreakGlassAccess) -> None:
    officers = list(
        get_user_model()
        .objects.filter(memberships__role=Role.PRIVACY_OFFICER, is_active=True)
        .exclude(email="")
        .values_list("email", flat=True)
        .distinct()
    )
    if officers:
        # Names no patient: the reviewer reads the details in the review queue.
        send_mail(
            subject="Shared care record: emergency access to review",
            message=(
                f"{access.user.get_full_name() or access.user.get_username()} "
                f"({access.team}) used emergency access at {access.started_at:%Y-%m-%d %H:%M}. "
                f"Reason: {access.get_reason_display()}. Please review it in the review queue."
            ),
            from_email=None,
            recipient_list=officers,
        )


@transaction.atomic
def review_break_glass(
    *, access: BreakGlassAccess, outcome: str, note: str, actor: Actor
) -> BreakGlassAccess:
    """A privacy officer's verdict on one emergency access (never on their own)."""
    if outcome not in (BreakGlassAccess.Review.APPROVED, BreakGlassAccess.Review.FLAGGED):
        raise AccessDenied("Choose appropriate or flagged.")
    access = BreakGlassAccess.objects.select_for_update().get(pk=access.pk)
    if access.review != BreakGlassAccess.Review.PENDING:
        raise AccessDenied("This access has already been reviewed.")
    if not reviews_break_glass(actor):
        raise AccessDenied("Only privacy officers review emergency access.")
    if access.user_id == actor.user.pk:
        raise AccessDenied("Nobody reviews their own emergency access.")
    note = _text(note, "the note", AccessDenied)
    with set_actor(actor.user):
        access.review, access.review_note = outcome, note
        access.reviewed_by, access.reviewed_at = actor.user, timezone.now()
        access.save()
    return access


def record_objection(*, patient: Patient, notes: str, actor: AbstractBaseUser) -> Objection:
    notes = _text(notes, "the notes")
    if not notes:
        raise RelationshipError("Say what the patient asked and how it was recorded.")
    with set_actor(actor):
        return Objection.objects.create(
            patient=patient, notes=notes, recorded_by=actor, recorded_at=timezone.now()
        )


def withdraw_objection(*, objection: Objection, actor: AbstractBaseUser) -> Objection:
    with set_actor(actor):
        objection.withdrawn_at, objection.withdrawn_by = timezone.now(), actor
        objection.save()
    return objection


@transaction.atomic
def register_api_client(
    *,
    name: str,
    team: Team,
    role: str,
    scopes: list[str],
    actor: AbstractBaseUser,
    client_id: str | None = None,
    client_secret: str | None = None,
    rate: str = "",
) -> tuple[ApiClient, str]:
    """Register a partner system for one team, in one role, with its scopes; returns the client
    and its secret (shown once: only a hash is kept)."""
    from oauth2_provider.generators import generate_client_id, generate_client_secret
    from oauth2_provider.models import Application

    if role not in Role.values:
        raise RelationshipError(f"Unknown role: {role}.")
    unknown = sorted(set(scopes) - set(ApiClient.Scope.values))
    if unknown or not scopes:
        raise RelationshipError(f"Unknown or missing scopes: {', '.join(unknown) or 'none'}.")
    client_id = client_id or generate_client_id()
    secret = client_secret or generate_client_secret()
    with set_actor(actor):
        user = get_user_model().objects.create(
            username=f"api.{client_id}"[:150], first_name=name[:150], is_active=True
        )
        user.set_unusable_password()  # it acts only through the API, never signs in
        user.save(update_fields=["password"])
        application = Application.objects.create(
            name=name,
            client_id=client_id,
            client_secret=secret,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        )
        client = ApiClient.objects.create(
            application=application,
            name=name,
            team=team,
            role=role,
            scopes=sorted(set(scopes)),
            service_user=user,
            rate=rate,
        )
    return client, secret
