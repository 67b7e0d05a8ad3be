"""Teams and who is in them: a membership is added, changed and ended only here, with a reason,
never by the member themselves, and each change recorded in django-auditlog with its actor."""

from auditlog.context import set_actor
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction

from access.exceptions import MembershipError
from access.models import Membership, Role, Team
from access.services.free_text import checked_text


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
    reason = checked_text(reason, "the reason", MembershipError)
    if not reason:
        raise MembershipError("Say why this person joins the team in this role.")
    if not user.is_active:
        raise MembershipError(f"{user.get_username()} cannot sign in: their account is off.")
    with set_actor(actor):
        membership = Membership.objects.select_for_update().filter(user=user, team=team).first()
        if membership is not None and membership.role == role:
            return membership
        if membership is None:
            membership = Membership(user=user, team=team)
        membership.role, membership.change_reason = role, reason
        membership.save()
        user.groups.add(team.group)
    return membership


@transaction.atomic
def end_membership(*, membership: Membership, reason: str, actor: AbstractBaseUser) -> None:
    """Take a user out of a team: they no longer act for it or see what it sees. Recorded in the
    change history with the actor and the reason; nobody ends their own membership."""
    if membership.user_id == actor.pk:
        raise MembershipError("Nobody changes their own memberships.")
    reason = checked_text(reason, "the reason", MembershipError)
    if not reason:
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
        membership.change_reason = reason
        membership.delete()
        membership.user.groups.remove(membership.team.group)
