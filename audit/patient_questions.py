"""Patients' questions about looks at their record, and the privacy officers' answers; and the
trail of what patients do in their own part of the portal (audit.patient_models).

A question names one look (an access event) at the asker's own record; a privacy officer
answers it, which closes it. Nothing here says who a patient is beyond their record's id.
"""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from access.policy import Actor, reviews_break_glass
from access.selectors import shown_by_role_only
from access.services.free_text import checked_text
from audit.exceptions import QuestionError
from audit.models import AccessEvent, PatientAnswer, PatientQuestion, PatientVisit
from audit.services import RequestContext
from records.models import Patient
from records.selectors import records_of_the_same_person

# Open questions shown at once in the privacy officers' queue (oldest first).
QUEUE_SIZE = 200


def is_look_at(*, patient: Patient, look_id: int) -> bool:
    """Whether `look_id` is a look (an access event) at this patient's record (an id beyond the
    column matches nothing: records.limits)."""
    # (with the records merged into theirs: those looks are at their record too)
    mine = records_of_the_same_person(patient)
    return AccessEvent.objects.filter(pk=look_id, patient_id__in=mine).exists()


def question_exists(question_id: int) -> bool:
    return PatientQuestion.objects.filter(pk=question_id).exists()


def ask_about_look(*, patient: Patient, look_id: int, text: str) -> PatientQuestion:
    """The patient's question about one look at their own record (QuestionError otherwise)."""
    text = checked_text(text, "your question", QuestionError)
    if not text:
        raise QuestionError("Write your question.")
    if not is_look_at(patient=patient, look_id=look_id):
        raise QuestionError("That look is not one at your record.")
    if open_questions().filter(patient=patient, look_id=look_id).exists():
        raise QuestionError(
            "You have asked about this look already. A privacy officer will answer you here."
        )
    return PatientQuestion.objects.create(
        patient=patient, look_id=look_id, text=text, asked_at=timezone.now()
    )


def answer_question(*, question_id: int, answer: str, actor: Actor) -> PatientAnswer:
    """A privacy officer's answer, which closes the question: given once (the answer's one-to-one
    row refuses a second), by a privacy officer (the policy's rule, asked here too, so no other
    caller can answer), and never changed afterwards."""
    if not reviews_break_glass(actor):
        raise QuestionError("Only a privacy officer answers patients' questions.")
    answer = checked_text(answer, "the answer", QuestionError)
    if not answer:
        raise QuestionError("Write the answer the patient will read.")
    question = (
        PatientQuestion.objects.filter(pk=question_id).first()
        if question_exists(question_id)
        else None
    )
    if question is None:
        raise QuestionError("There is no such question.")
    look = AccessEvent.objects.filter(pk=question.look_id).values_list("user_id", flat=True)
    if actor.user.pk in look:
        raise QuestionError(
            "The question is about your own look: another privacy officer answers it."
        )
    try:
        with transaction.atomic():
            return PatientAnswer.objects.create(
                question=question, text=answer, answered_by=actor.user, answered_at=timezone.now()
            )
    except IntegrityError as exc:
        raise QuestionError("This question has been answered already.") from exc


def questions_of(patient: Patient) -> QuerySet[PatientQuestion]:
    """A patient's own questions, newest first, with their answers."""
    return (
        PatientQuestion.objects.filter(patient=patient)
        .select_related("reply")
        .order_by("-asked_at", "-pk")
    )


@dataclass(frozen=True)
class QueuedQuestion:
    """An open question with the look it is about, for a privacy officer."""

    question: PatientQuestion
    look: AccessEvent | None
    # The professional chose to be shown to patients by job role only: the answer must not
    # name them either.
    by_role_only: bool = False


def open_questions() -> QuerySet[PatientQuestion]:
    """The questions waiting for an answer, oldest first."""
    return PatientQuestion.objects.filter(reply__isnull=True).order_by("asked_at", "pk")


def question_queue(limit: int = QUEUE_SIZE) -> list[QueuedQuestion]:
    """The open questions, oldest first, each with its look (two queries in all)."""
    questions = list(open_questions()[:limit])
    looks = AccessEvent.objects.filter(pk__in={q.look_id for q in questions}).select_related("user")
    by_id = {look.pk: look for look in looks}
    by_role = shown_by_role_only(look.user_id for look in by_id.values())
    return [
        QueuedQuestion(
            question,
            by_id.get(question.look_id),
            question.look_id in by_id and by_id[question.look_id].user_id in by_role,
        )
        for question in questions
    ]


def answered_lately(limit: int = 50) -> QuerySet[PatientAnswer]:
    """The answers given last, newest first, with their questions and who answered."""
    return PatientAnswer.objects.select_related("question", "answered_by").order_by(
        "-answered_at", "-pk"
    )[:limit]


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
