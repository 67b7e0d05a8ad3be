"""Emergency access ("break-glass"): started by a role allowed it, with a reason, for a limited
time; privacy officers are told and review it, never their own."""

import datetime

from auditlog.context import set_actor
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from access.exceptions import AccessDenied, EmergencyAccessError
from access.models import BreakGlassAccess, Role, Team
from access.policy import Actor, actor_for, may_break_glass, reviews_break_glass
from access.services.free_text import checked_text
from records.models import Patient


@transaction.atomic
def break_glass(
    *, user: AbstractBaseUser, team: Team, patient: Patient, reason: str, explanation: str
) -> BreakGlassAccess:
    """Open a record in an emergency without a relationship: time-limited and reviewed."""
    if not may_break_glass(actor_for(user, team.pk)):
        raise AccessDenied("Your role cannot use emergency access.")
    if reason not in BreakGlassAccess.Reason.values:
        raise EmergencyAccessError("Choose a reason from the list.")
    explanation = checked_text(explanation, "the explanation", EmergencyAccessError)
    if not explanation:
        raise EmergencyAccessError("Say why you need this record now.")
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
        raise EmergencyAccessError("Choose appropriate or flagged.")
    access = BreakGlassAccess.objects.select_for_update().get(pk=access.pk)
    if access.review != BreakGlassAccess.Review.PENDING:
        raise EmergencyAccessError("This access has already been reviewed.")
    if not reviews_break_glass(actor):
        raise AccessDenied("Only privacy officers review emergency access.")
    if access.user_id == actor.user.pk:
        raise AccessDenied("Nobody reviews their own emergency access.")
    note = checked_text(note, "the note", EmergencyAccessError)
    with set_actor(actor.user):
        access.review, access.review_note = outcome, note
        access.reviewed_by, access.reviewed_at = actor.user, timezone.now()
        access.save()
    return access
