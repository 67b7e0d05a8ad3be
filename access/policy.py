"""The one answer to "may this person, acting for this team, see these parts of this record now,
and on what basis?". care_record.reading.read_record asks it for every read of patient data.
"""

import datetime
import functools
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser, Permission
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone

from access.models import (
    IN_FORCE_SQL,
    VIEW_RECORD_CODENAME,
    AccessBasis,
    BreakGlassAccess,
    Membership,
    RolePolicy,
    Sensitivity,
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
    # The role's policy, read with the membership or client; None: the role sees and does nothing.
    policy: RolePolicy | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    categories: tuple[str, ...] = ()
    basis: AccessBasis | None = None
    relationship_id: int | None = None
    break_glass_id: int | None = None
    break_glass_expires_at: datetime.datetime | None = None
    sees_sensitive_sources: bool = False
    # The sensitive content (access.models.Sensitivity) this look may show; the rest of it is
    # withheld and counted (care_record.reading).
    sensitivities: frozenset[str] = frozenset()
    objection: bool = False
    why_not: str = ""
    purpose: str = DIRECT_CARE
    denied_categories: tuple[str, ...] = field(default=())


def memberships_of_user(user: AbstractBaseUser) -> QuerySet[Membership]:
    """The user's memberships with their teams and role policies: what an actor is made of."""
    return Membership.objects.filter(user=user).select_related("team", "policy")


def actor_for(
    user: AbstractBaseUser, team_id: int | None = None, memberships: list[Membership] | None = None
) -> Actor:
    """The actor a signed-in user is: the team they chose (or their only team) and its role.
    `memberships`, all of the user's with their teams and policies, when the caller has read
    them already."""
    if memberships is None:
        found = memberships_of_user(user)
        if team_id is not None:
            found = found.filter(team_id=team_id)
        chosen = list(found[:2])
    else:
        chosen = [m for m in memberships if team_id is None or m.team_id == team_id][:2]
    if len(chosen) != 1:
        return Actor(user=user, team=None, role=None)
    return Actor(user=user, team=chosen[0].team, role=chosen[0].role, policy=chosen[0].policy)


def decide(
    actor: Actor, patient: Patient, categories: list[str] | tuple[str, ...] | None = None,
    purpose: str = DIRECT_CARE,
) -> Decision:  # fmt: skip
    """Allowed categories and basis, or why not. Deny by default; expiry is checked here, so a
    relationship past its end date grants nothing even before the periodic task ends it."""
    wanted = parse_categories(list(categories or []))
    if actor.team is None or actor.role is None or not actor.user.is_active:
        return Decision(False, why_not="not acting for a team", purpose=purpose)
    policy = actor.policy
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
    facts = _facts(actor, patient)
    if facts.break_glass_id is not None and policy.may_break_glass:
        # When it ends, for the record's banner: a second query, for emergency access only.
        ends = BreakGlassAccess.objects.filter(pk=facts.break_glass_id)
        return Decision(
            True,
            basis=AccessBasis.BREAK_GLASS,
            sensitivities=sensitivities_seen(policy, AccessBasis.BREAK_GLASS),
            break_glass_id=facts.break_glass_id,
            break_glass_expires_at=ends.values_list("expires_at", flat=True).first(),
            objection=facts.objection,
            **shared,
        )
    if facts.objection:
        return Decision(False, why_not="the patient has objected to sharing", objection=True,
                        purpose=purpose)  # fmt: skip
    if facts.relationship_id is None or not facts.granted:
        return Decision(False, why_not="no care relationship", purpose=purpose)
    return Decision(
        True,
        basis=AccessBasis.RELATIONSHIP,
        relationship_id=facts.relationship_id,
        sensitivities=sensitivities_seen(policy, AccessBasis.RELATIONSHIP),
        **shared,
    )


def sensitivities_seen(policy: RolePolicy, basis: AccessBasis) -> frozenset[str]:
    """The sensitive content a role sees on a basis: its policy's list, mental health content
    wherever mental health services' data is open to it (one switch for both), and under
    emergency access its emergency list besides."""
    seen = set(policy.sensitivities or ())
    if policy.sees_sensitive_sources:
        seen.add(Sensitivity.MENTAL_HEALTH)
    if basis == AccessBasis.BREAK_GLASS:
        seen |= set(policy.sensitivities_in_emergency or ())
    return frozenset(seen)


@dataclass(frozen=True)
class _Facts:
    objection: bool
    break_glass_id: int | None
    relationship_id: int | None
    granted: bool


# A relationship r in force today, of the actor (user) or their team: find_my_patients' rule too.
ACTIVE_RELATIONSHIP_SQL = f"""{IN_FORCE_SQL}
    AND (r.user_id = %(user)s OR r.team_id = %(team)s)"""
# What decide needs to know, in one statement: Django took longer to build the four queries it
# used to make (objection, emergency access, relationship, grant) than the database took to run
# them. The relationship is the actor's or their team's in force today, the first to have
# started; its grant is the one its start made: the team group's for a team's relationship, the
# user's for one with a person. tests/test_access.py has a test for each way a decision goes.
_FACTS = f"""
SELECT
  EXISTS (SELECT 1 FROM access_objection o
          WHERE o.patient_id = %(patient)s AND o.withdrawn_at IS NULL),
  b.id, r.id, r.granted
FROM (SELECT 1 AS here) AS here
LEFT JOIN (
  SELECT b.id FROM access_breakglassaccess b
  WHERE b.user_id = %(user)s AND b.patient_id = %(patient)s AND b.team_id = %(team)s
    AND b.expires_at > %(now)s
  ORDER BY b.expires_at DESC LIMIT 1
) b ON 1 = 1
LEFT JOIN (
  SELECT r.id, CASE WHEN r.team_id IS NOT NULL
    THEN EXISTS (SELECT 1 FROM access_patientgroupobjectpermission g
                 WHERE g.content_object_id = r.patient_id AND g.group_id = %(group)s
                   AND g.permission_id = %(permission)s)
    ELSE EXISTS (SELECT 1 FROM access_patientuserobjectpermission g
                 WHERE g.content_object_id = r.patient_id AND g.user_id = %(user)s
                   AND g.permission_id = %(permission)s)
    END AS granted
  FROM access_carerelationship r
  WHERE r.patient_id = %(patient)s AND {ACTIVE_RELATIONSHIP_SQL}
  ORDER BY r.starts_on, r.id LIMIT 1
) r ON 1 = 1
"""  # noqa: S608 (constant text; values are parameters)


def _facts(actor: Actor, patient: Patient) -> _Facts:
    ops = connection.ops
    values = {
        "patient": patient.pk,
        "user": actor.user.pk,
        "team": actor.team.pk,
        "group": actor.team.group_id,
        "permission": view_record_permission_id(),
        "today": ops.adapt_datefield_value(timezone.localdate()),
        "now": ops.adapt_datetimefield_value(timezone.now()),
    }
    with connection.cursor() as cursor:
        cursor.execute(_FACTS, values)
        objection, break_glass_id, relationship_id, granted = cursor.fetchone()
    return _Facts(bool(objection), break_glass_id, relationship_id, bool(granted))


@functools.cache
def view_record_permission_id() -> int:
    """The id of guardian's records.view_record permission, which relationships grant."""
    return Permission.objects.get(
        codename=VIEW_RECORD_CODENAME, content_type__app_label="records"
    ).pk


def sees_records(actor: Actor) -> bool:
    """Whether the actor's role sees any clinical heading at all."""
    policy = actor.policy
    return policy is not None and bool(policy.categories)


def reviews_break_glass(actor: Actor) -> bool:
    """Whether the role the actor acts in now reviews emergency access and reads the audit trail
    (a privacy officer in one team, acting as a GP for another, is a GP: the look would be
    recorded under the GP's role)."""
    policy = actor.policy
    return policy is not None and policy.reviews_break_glass


def may_break_glass(actor: Actor) -> bool:
    policy = actor.policy
    return policy is not None and policy.may_break_glass


def manages_relationships(actor: Actor) -> bool:
    policy = actor.policy
    return policy is not None and policy.manages_relationships
