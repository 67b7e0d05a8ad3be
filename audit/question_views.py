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
from records.limits import FREE_TEXT_MAX_LENGTH


class AnswerForm(forms.Form):
    answer = forms.CharField(max_length=FREE_TEXT_MAX_LENGTH, required=False)


@never_cache
@require_GET
def patient_questions(request: HttpRequest) -> HttpResponse:
    require_privacy_officer(request)
    return render(
        request,
        "audit/patient_questions.html",
        {"queue": question_queue(), "answered": answered_lately()},
    )


@require_POST
def answer(request: HttpRequest, question_id: int) -> HttpResponse:
    require_privacy_officer(request)
    if not question_exists(question_id):
        raise Http404("no such question")
    form = AnswerForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.errors["answer"][0])
        return redirect("audit-patient-questions")
    text = form.cleaned_data["answer"]
    try:
        answer_question(question_id=question_id, answer=text, actor=actor_from_request(request))
    except QuestionError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "Your answer is sent: the patient sees it when they sign in.")
    return redirect("audit-patient-questions")
