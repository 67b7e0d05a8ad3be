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

from access.exceptions import AccessDenied, EmergencyAccessError, ReviewError
from access.models import BreakGlassAccess, BreakGlassReview, Role, Team
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


Review = BreakGlassAccess.Review
# Which decisions may follow where an access stands. A first review finds it appropriate or flags
# it; a flagged access stays under investigation (each step noted) until concluded either way;
# any concluded review can be reopened by flagging it again, when something new comes to light.
NEXT_DECISIONS: dict[str, tuple[str, ...]] = {
    Review.PENDING: (Review.APPROVED, Review.FLAGGED),
    Review.FLAGGED: (Review.FLAGGED, Review.CLEARED, Review.CONFIRMED),
    Review.APPROVED: (Review.FLAGGED,),
    Review.CLEARED: (Review.FLAGGED,),
    Review.CONFIRMED: (Review.FLAGGED,),
}
# Only a first "appropriate" may go without a note: a flag must say what to look into, an
# investigation's step or conclusion what was found, so that the decision can be defended.
NOTE_OPTIONAL = frozenset({Review.APPROVED})
# How a decision is offered where the access stands (the form's choices).
DECISION_WORDS = {
    Review.APPROVED: "Appropriate",
    Review.FLAGGED: "Flag for investigation",
    Review.CLEARED: "Investigation concluded: appropriate",
    Review.CONFIRMED: "Investigation concluded: not appropriate",
}
STILL_INVESTIGATING = "Still under investigation (add a note)"


def decisions_open_to(access: BreakGlassAccess) -> list[tuple[str, str]]:
    """The decisions a review of this access may make now, as (value, words)."""
    return [
        (
            decision,
            STILL_INVESTIGATING
            if access.review == Review.FLAGGED and decision == Review.FLAGGED
            else DECISION_WORDS[decision],
        )
        for decision in NEXT_DECISIONS[access.review]
    ]


@transaction.atomic
def review_break_glass(
    *, access: BreakGlassAccess, outcome: str, note: str, actor: Actor
) -> BreakGlassAccess:
    """A privacy officer's decision on one emergency access (never on their own), kept as a
    new BreakGlassReview, the access's current state updated with it in the same transaction
    (the access is returned, its new review in `access.reviews`).
    Raises ReviewError (nothing written) for a decision that cannot follow where the access
    stands, or a missing note where one is needed."""
    if not reviews_break_glass(actor):
        raise AccessDenied("Only privacy officers review emergency access.")
    access = BreakGlassAccess.objects.select_for_update().get(pk=access.pk)
    if access.user_id == actor.user.pk:
        raise AccessDenied("Nobody reviews their own emergency access.")
    allowed = NEXT_DECISIONS[access.review]
    if outcome not in allowed:
        if access.review == Review.PENDING or outcome not in DECISION_WORDS:
            raise ReviewError("Choose appropriate or flag for investigation.", field="decision")
        raise ReviewError(_what_may_follow(access), field="decision")
    note = checked_text(note, "the note", lambda message: ReviewError(message, field="note"))
    if not note and outcome not in NOTE_OPTIONAL:
        raise ReviewError(_note_needed(access.review, outcome), field="note")
    now = timezone.now()
    with set_actor(actor.user):
        BreakGlassReview.objects.create(
            access=access, decision=outcome, note=note, reviewed_by=actor.user, reviewed_at=now
        )
        access.review, access.review_note = outcome, note
        access.reviewed_by, access.reviewed_at = actor.user, now
        access.save(update_fields=["review", "review_note", "reviewed_by", "reviewed_at"])
    return access


def _what_may_follow(access: BreakGlassAccess) -> str:
    if access.review == Review.FLAGGED:
        return (
            "This access is under investigation: add a note to the investigation, or conclude "
            "it as appropriate or not appropriate."
        )
    return (
        f"This access has already been reviewed ({access.get_review_display().lower()}): "
        "it can only be flagged for investigation again."
    )


def _note_needed(state: str, outcome: str) -> str:
    if outcome == Review.FLAGGED and state == Review.FLAGGED:
        return "Say what the investigation has found so far."
    if outcome == Review.FLAGGED:
        return "Say why you are flagging this access for investigation."
    return "Say what the investigation found."
