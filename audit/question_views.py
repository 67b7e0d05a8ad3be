"""The privacy officers' page of patients' questions about looks at their records: each open
question with the look it is about, and a form to answer it (which closes it). Nobody else can
open it. Like the review queue, it names no patient: who they are is in their access report,
and opening that is recorded as a look."""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from access.web import actor_from_request, require_privacy_officer
from audit.exceptions import QuestionError
from audit.patient_questions import (
    answer_question,
    answered_lately,
    question_exists,
    question_queue,
)
from records.form_fields import FreeTextField, PlainForm


class AnswerForm(PlainForm):
    """Shape only: that an answer is needed, and not to a question answered already, is the
    service's rule (audit.patient_questions.answer_question), shown on the field."""

    answer = FreeTextField(
        what="the answer",
        label="Your answer to the patient",
        help_text="Plain words: the patient reads this exactly as you write it.",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
    )

    def __init__(self, *args, question_id: int, **kwargs) -> None:
        # One on each question: ids of their own, the same names.
        super().__init__(*args, auto_id=f"answer-{question_id}-%s", **kwargs)


def _questions_page(
    request: HttpRequest, *, answering: AnswerForm | None = None, question_id: int | None = None
) -> HttpResponse:
    queue = question_queue()
    forms_by_question = {
        item.question.pk: answering
        if item.question.pk == question_id
        else AnswerForm(question_id=item.question.pk)
        for item in queue
    }
    context = {
        "queue": queue,
        "answered": answered_lately(),
        "answer_forms": forms_by_question,
        "answering": answering,
    }
    return render(request, "audit/patient_questions.html", context)


@never_cache
@require_GET
def patient_questions(request: HttpRequest) -> HttpResponse:
    require_privacy_officer(request)
    return _questions_page(request)


@never_cache
@require_POST
def answer(request: HttpRequest, question_id: int) -> HttpResponse:
    """Send the answer; a refusal (empty, answered already) shows the queue with the error on
    that question's answer."""
    require_privacy_officer(request)
    if not question_exists(question_id):
        raise Http404("no such question")
    form = AnswerForm(request.POST, question_id=question_id)
    if form.is_valid():
        try:
            answer_question(
                question_id=question_id,
                answer=form.cleaned_data["answer"],
                actor=actor_from_request(request),
            )
        except QuestionError as error:
            form.add_error("answer", str(error))
        else:
            messages.success(request, "Your answer is sent: the patient sees it when they sign in.")
            return redirect("audit-patient-questions")
    return _questions_page(request, answering=form, question_id=question_id)
