"""The one answer to "may this person, acting for this team, see these parts of this record now,
and on what basis?". records.services.read_record asks it for every read of patient data.
"""

import datetime
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from access.models import (
    VIEW_RECORD_CODENAME,
    BreakGlassAccess,
    CareRelationship,
    Membership,
    Objection,
    PatientGroupObjectPermission,
    PatientUserObjectPermission,
    RolePolicy,
    Team,
)
from records.categories import parse_categories
from records.models import Patient

DIRECT_CARE = "direct_care"


@dataclass(frozen=True)
class Actor:
    """Who is asking: a user acting for one team in one role (and, for the API, a client)."""

    user: AbstractBaseUser
    team: Team | None
    role: str | None
    client_id: str | None = None
    end_user: str = ""  # for the API: the partner's own user the call is made for, as it names them
    policy: RolePolicy | None = None  # the role's policy, read once with the actor


@dataclass(frozen=True)
class Decision:
    allowed: bool
    categories: tuple[str, ...] = ()
    basis: str = ""  # "relationship" or "break_glass"
    relationship_id: int | None = None
    break_glass_id: int | None = None
    break_glass_expires_at: datetime.datetime | None = None
    sees_sensitive_sources: bool = False
    objection: bool = False
    why_not: str = ""
    purpose: str = DIRECT_CARE
    denied_categories: tuple[str, ...] = field(default=())


def actor_for(
    user: AbstractBaseUser, team_id: int | None = None, memberships: list[Membership] | None = None
) -> Actor:
    """The actor a signed-in user is: the team they chose (or their only team) and its role.
    `memberships`, all of the user's with their teams, when the caller has read them already."""
    if memberships is None:
        found = Membership.objects.filter(user=user).select_related("team")
        if team_id is not None:
            found = found.filter(team_id=team_id)
        chosen = list(found[:2])
    else:
        chosen = [m for m in memberships if team_id is None or m.team_id == team_id][:2]
    if len(chosen) != 1:
        return Actor(user=user, team=None, role=None)
    role = chosen[0].role
    policy = RolePolicy.objects.filter(role=role).first()
    return Actor(user=user, team=chosen[0].team, role=role, policy=policy)


def _policy(actor: Actor) -> RolePolicy | None:
    if actor.role is None:
        return None
    return actor.policy or RolePolicy.objects.filter(role=actor.role).first()


def decide(
    actor: Actor, patient: Patient, categories: list[str] | tuple[str, ...] | None = None,
    purpose: str = DIRECT_CARE,
) -> Decision:  # fmt: skip
    """Allowed categories and basis, or why not. Deny by default; expiry is checked here, so a
    relationship past its end date grants nothing even before the periodic task ends it."""
    wanted = parse_categories(list(categories or []))
    if actor.team is None or actor.role is None or not actor.user.is_active:
        return Decision(False, why_not="not acting for a team", purpose=purpose)
    policy = _policy(actor)
    if policy is None or not policy.categories:
        return Decision(False, why_not="this role sees no clinical records", purpose=purpose)
    allowed = tuple(c for c in wanted if c in policy.categories)
    denied = tuple(c for c in wanted if c not in policy.categories)
    shared = {
        "categories": allowed,
        "sees_sensitive_sources": policy.sees_sensitive_sources,
        "purpose": purpose,
        "denied_categories": denied,
    }
    now = timezone.now()
    objection = Objection.objects.filter(patient=patient, withdrawn_at__isnull=True).exists()

    glass = (
        BreakGlassAccess.objects.filter(
            user=actor.user, team=actor.team, patient=patient, expires_at__gt=now
        )
        .order_by("-expires_at")
        .first()
    )
    if glass is not None and policy.may_break_glass:
        return Decision(
            True,
            basis="break_glass",
            break_glass_id=glass.pk,
            break_glass_expires_at=glass.expires_at,
            objection=objection,
            **shared,
        )
    if objection:
        return Decision(False, why_not="the patient has objected to sharing", objection=True,
                        purpose=purpose)  # fmt: skip

    relationship = active_relationship(actor, patient, timezone.localdate())
    if relationship is None or not _granted(actor, patient, relationship):
        return Decision(False, why_not="no care relationship", purpose=purpose)
    return Decision(True, basis="relationship", relationship_id=relationship.pk, **shared)


def active_relationship(
    actor: Actor, patient: Patient, day: datetime.date
) -> CareRelationship | None:
    """The relationship through which the actor's team (or the actor) cares for the patient."""
    return (
        CareRelationship.objects.filter(patient=patient, ended_at__isnull=True, starts_on__lte=day)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=day))
        .filter(Q(team=actor.team) | Q(user=actor.user))
        .order_by("starts_on", "pk")
        .first()
    )


def _granted(actor: Actor, patient: Patient, relationship: CareRelationship) -> bool:
    """The guardian permission that the relationship's start granted is still in place."""
    if relationship.team_id:
        return PatientGroupObjectPermission.objects.filter(
            group_id=actor.team.group_id,
            content_object=patient,
            permission__codename=VIEW_RECORD_CODENAME,
        ).exists()
    return PatientUserObjectPermission.objects.filter(
        user=actor.user, content_object=patient, permission__codename=VIEW_RECORD_CODENAME
    ).exists()


def sees_records(actor: Actor) -> bool:
    """Whether the actor's role sees any clinical heading at all."""
    policy = _policy(actor)
    return policy is not None and bool(policy.categories)


def reviews_break_glass(user: AbstractBaseUser) -> bool:
    """Whether the user holds a role (in any team) whose policy is to review emergency access."""
    roles = Membership.objects.filter(user=user).values_list("role", flat=True)
    return RolePolicy.objects.filter(role__in=roles, reviews_break_glass=True).exists()


def may_break_glass(actor: Actor) -> bool:
    policy = _policy(actor)
    return policy is not None and policy.may_break_glass


def manages_relationships(actor: Actor) -> bool:
    policy = _policy(actor)
    return policy is not None and policy.manages_relationships
