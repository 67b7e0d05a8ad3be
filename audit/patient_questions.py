"""Patients' questions about looks at their record, and the privacy officers' answers; and the
trail of what patients do in their own part of the portal (audit.patient_models).

A question names one look (an access event) at the asker's own record; a privacy officer
answers it, which closes it. Nothing here says who a patient is beyond their record's id.
"""

from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from access.policy import Actor, reviews_break_glass
from access.services.free_text import checked_text
from audit.exceptions import QuestionError
from audit.models import AccessEvent, PatientQuestion, PatientVisit
from audit.services import RequestContext
from records.models import Patient

# Open questions shown at once in the privacy officers' queue (oldest first).
QUEUE_SIZE = 200


def is_look_at(*, patient: Patient, look_id: int) -> bool:
    """Whether `look_id` is a look (an access event) at this patient's record."""
    if not 0 < look_id < 2**63:  # no event has such an id (a database would refuse to look)
        return False
    return AccessEvent.objects.filter(pk=look_id, patient=patient).exists()


def ask_about_look(*, patient: Patient, look_id: int, text: str) -> PatientQuestion:
    """The patient's question about one look at their own record (QuestionError otherwise)."""
    text = checked_text(text, "your question", QuestionError)
    if not text:
        raise QuestionError("Write your question.")
    if not is_look_at(patient=patient, look_id=look_id):
        raise QuestionError("That look is not one at your record.")
    return PatientQuestion.objects.create(
        patient=patient, look_id=look_id, text=text, asked_at=timezone.now()
    )


@transaction.atomic
def answer_question(*, question_id: int, answer: str, actor: Actor) -> PatientQuestion:
    """A privacy officer's answer, which closes the question; answered once, by a privacy
    officer (the policy's rule, asked here too, so no other caller can answer)."""
    if not reviews_break_glass(actor):
        raise QuestionError("Only a privacy officer answers patients' questions.")
    answer = checked_text(answer, "the answer", QuestionError)
    if not answer:
        raise QuestionError("Write the answer the patient will read.")
    question = PatientQuestion.objects.select_for_update().filter(pk=question_id).first()
    if question is None:
        raise QuestionError("There is no such question.")
    if question.status == PatientQuestion.Status.ANSWERED:
        raise QuestionError("This question has been answered already.")
    question.status = PatientQuestion.Status.ANSWERED
    question.answer, question.answered_by, question.answered_at = answer, actor.user, timezone.now()
    question.save(update_fields=["status", "answer", "answered_by", "answered_at"])
    return question


def questions_of(patient: Patient) -> QuerySet[PatientQuestion]:
    """A patient's own questions, newest first."""
    return PatientQuestion.objects.filter(patient=patient).order_by("-asked_at", "-pk")


@dataclass(frozen=True)
class QueuedQuestion:
    """An open question with the look it is about, for a privacy officer."""

    question: PatientQuestion
    look: AccessEvent | None


def open_questions() -> QuerySet[PatientQuestion]:
    """The questions waiting for an answer, oldest first."""
    return PatientQuestion.objects.filter(status=PatientQuestion.Status.OPEN).order_by(
        "asked_at", "pk"
    )


def question_queue(limit: int = QUEUE_SIZE) -> list[QueuedQuestion]:
    """The open questions, oldest first, each with its look (two queries in all)."""
    questions = list(open_questions()[:limit])
    looks = AccessEvent.objects.filter(pk__in={q.look_id for q in questions}).select_related("user")
    by_id = {look.pk: look for look in looks}
    return [QueuedQuestion(question, by_id.get(question.look_id)) for question in questions]


def answered_lately(limit: int = 50) -> QuerySet[PatientQuestion]:
    """The questions answered last, newest first, with who answered."""
    return (
        PatientQuestion.objects.filter(status=PatientQuestion.Status.ANSWERED)
        .select_related("answered_by")
        .order_by("-answered_at")[:limit]
    )


def record_visit(
    *, patient: Patient, action: str, subject: str, context: RequestContext
) -> PatientVisit:
    """One thing the signed-in patient did in their part of the portal (append-only)."""
    return PatientVisit.objects.create(
        patient=patient,
        occurred_at=timezone.now(),
        action=action,
        subject=subject[:255],
        ip_address=context.ip_address,
        request_id=context.request_id[:64],
    )
