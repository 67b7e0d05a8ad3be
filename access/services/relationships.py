"""Care relationships and the django-guardian grants they carry: the only code that grants or
revokes the object permission on patients, as relationships start and end, and the periodic
safety net that keeps the grants equal to the relationships in force."""

import datetime
import logging

from auditlog.context import set_actor
from django.contrib.auth.models import AbstractBaseUser, Permission
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from access.exceptions import RelationshipAlreadyInPlace, RelationshipError
from access.models import (
    VIEW_RECORD,
    VIEW_RECORD_CODENAME,
    ApiClient,
    CareRelationship,
    Membership,
    PatientGroupObjectPermission,
    PatientUserObjectPermission,
    Team,
)
from access.services.free_text import checked_text
from records.models import Patient
from records.services import system_user

logger = logging.getLogger(__name__)


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
    """Record that a team (or one user) cares for a patient; grants access once it has started.

    One already in place (not ended, same holder, patient and kind, overlapping dates) is not
    recorded twice: RelationshipAlreadyInPlace names it. Two callers at once who both found none
    are held apart by the database's constraint (migration 0011): the second's insert fails, and
    is answered the same way, with the first's relationship."""
    if (team is None) == (user is None):
        raise RelationshipError("A care relationship is with a team or with one person.")
    reason = checked_text(reason, "the reason", RelationshipError)
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
    alike = CareRelationship.objects.alike(
        patient_id=patient.pk,
        team_id=team.pk if team else None,
        user_id=user.pk if user else None,
        kind=kind,
        starts_on=starts_on,
        ends_on=ends_on,
    )
    existing = alike.first()
    if existing is not None:
        raise RelationshipAlreadyInPlace(existing)
    with set_actor(actor):
        try:
            relationship = _create_once(
                patient=patient,
                team=team,
                user=user,
                kind=kind,
                starts_on=starts_on,
                ends_on=ends_on,
                reason=reason,
                created_by=actor,
            )
        except IntegrityError:
            # Another transaction made the same one since we looked, and has committed it.
            existing = alike.first()
            if existing is None:
                raise
            raise RelationshipAlreadyInPlace(existing) from None
        if relationship.in_force_on(today):
            _grant(relationship)
    return relationship


# PostgreSQL's code for a deadlock. Two transactions writing the same relationship at once each
# write their row and then check the exclusion constraint against the other's, which is a
# deadlock (an exclusion constraint, unlike a unique index, checks after writing): one is
# stopped. Its savepoint is undone and it writes again, which then waits for the other to end
# and, if that one committed, is refused as a duplicate like any other.
DEADLOCK = "40P01"


def _create_once(**values) -> CareRelationship:
    try:
        with transaction.atomic():  # a savepoint: the caller's transaction goes on
            return CareRelationship.objects.create(**values)
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) != DEADLOCK:
            raise
        logger.info("a relationship written at the same moment by another: writing again")
    with transaction.atomic():
        return CareRelationship.objects.create(**values)


@transaction.atomic
def end_relationship(
    *, relationship: CareRelationship, reason: str, actor: AbstractBaseUser
) -> CareRelationship:
    """End a relationship now; access goes unless another active relationship still grants it."""
    relationship = CareRelationship.objects.select_for_update().get(pk=relationship.pk)
    if relationship.ended_at is not None:
        raise RelationshipError("This relationship has already ended.")
    reason = checked_text(reason, "the reason", RelationshipError)
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
