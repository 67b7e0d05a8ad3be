"""The patients' own part of the portal (/your-record/), signed in through NHS login: who has
looked at their record and why, questions about a look (answered by the privacy officers), and
their objection to sharing, recorded or withdrawn. No clinical data is shown here: only which
headings a look showed, never what they hold.

Every view is `patient_required` (care_record/patient_sessions.py) and reads only the signed-in
patient's own rows: any id in an address is looked up within them, so another patient's id is
simply not found.
"""

from django import forms
from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from access.exceptions import ObjectionError
from access.models import Objection
from access.services import record_objection, withdraw_objection
from audit.exceptions import QuestionError
from audit.models import AccessEvent, PatientVisit
from audit.patient_questions import ask_about_look, is_look_at, questions_of, record_visit
from audit.report import when_words
from audit.request_context import context_from_request
from care_record.patient_looks import (
    looks_page_for_the_patient,
    one_look_for_the_patient,
)
from care_record.patient_sessions import PatientVisitor, patient_required
from records.form_fields import FreeTextField, PlainForm
from records.selectors import records_of_the_same_person

LOOKS_PER_PAGE = 50
OBJECTION_NOTES = "Recorded by the patient themselves, signed in through NHS login."


def _not_found(request: HttpRequest) -> HttpResponse:
    return render(request, "404.html", status=404)


def _visit(request: HttpRequest, visitor: PatientVisitor, action: str) -> None:
    record_visit(
        patient=visitor.patient,
        action=action,
        subject=visitor.subject,
        context=context_from_request(request),
    )


def _standing_objection(visitor: PatientVisitor) -> Objection | None:
    return Objection.objects.filter(patient=visitor.patient, withdrawn_at__isnull=True).first()


@require_GET
@patient_required
def home(request: HttpRequest, visitor: PatientVisitor) -> HttpResponse:
    open_questions = questions_of(visitor.patient).filter(reply__isnull=True)
    return render(
        request,
        "patient/home.html",
        {
            "visitor": visitor,
            "objection": _standing_objection(visitor),
            "open_questions": open_questions.count(),
        },
    )


@require_GET
@patient_required
def looks(request: HttpRequest, visitor: PatientVisitor) -> HttpResponse:
    """Who has looked at my record, and why: reading it is recorded as the patient's own visit,
    never as a look."""
    _visit(request, visitor, PatientVisit.Action.READ_LOOKS)
    page = looks_page_for_the_patient(visitor.patient, request.GET.get("page"), size=LOOKS_PER_PAGE)
    return render(request, "patient/looks.html", {"visitor": visitor, "looks": page})


class QuestionForm(PlainForm):
    text = FreeTextField(
        what="your question",
        label="Your question",
        help_text="For example, why they looked, or what they looked at. Do not include "
        "anything about your health that you would not want a privacy officer to read.",
        widget=forms.Textarea(attrs={"rows": 5}),
        error_messages={"required": "Write your question"},
    )


@require_http_methods(["GET", "POST"])
@patient_required
def ask(request: HttpRequest, visitor: PatientVisitor, look_id: int) -> HttpResponse:
    """Ask the privacy officers about one look at your own record."""
    look = _own_look(visitor, look_id)
    if look is None:
        return _not_found(request)
    form = QuestionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                ask_about_look(
                    patient=visitor.patient, look_id=look.event_id, text=form.cleaned_data["text"]
                )
                _visit(request, visitor, PatientVisit.Action.ASKED)
        except QuestionError as error:
            form.add_error("text", str(error))
        else:
            messages.success(
                request,
                "Your question has been sent to the privacy officers. Their answer will be shown "
                "on this page.",
            )
            return redirect("patient-questions")
    return render(request, "patient/ask.html", {"visitor": visitor, "look": look, "form": form})


def _own_look(visitor: PatientVisitor, look_id: int):
    """The look `look_id` at this patient's own record, worded for them; None for any other."""
    if not is_look_at(patient=visitor.patient, look_id=look_id):
        return None
    return one_look_for_the_patient(AccessEvent.objects.select_related("user").get(pk=look_id))


@require_GET
@patient_required
def questions(request: HttpRequest, visitor: PatientVisitor) -> HttpResponse:
    """Your questions about looks at your record, and the privacy officers' answers (reading
    them is recorded, as reading the looks is)."""
    _visit(request, visitor, PatientVisit.Action.READ_ANSWERS)
    asked = list(questions_of(visitor.patient)[:200])
    times = dict(
        AccessEvent.objects.filter(
            patient_id__in=records_of_the_same_person(visitor.patient),
            pk__in={question.look_id for question in asked},
        ).values_list("pk", "occurred_at")
    )
    shown = [
        {
            "id": question.pk,
            "look_when": when_words(times[question.look_id])
            if question.look_id in times
            else "a date no longer shown",
            "asked_when": when_words(question.asked_at),
            "text": question.text,
            "answered": question.reply_given is not None,
            "answer": question.reply_given.text if question.reply_given else "",
            "answered_when": when_words(question.reply.answered_at) if question.reply_given else "",
        }
        for question in asked
    ]
    return render(request, "patient/questions.html", {"visitor": visitor, "questions": shown})


@require_GET
@patient_required
def sharing(request: HttpRequest, visitor: PatientVisitor) -> HttpResponse:
    """Whether you object to sharing your record, and what that means."""
    objection = _standing_objection(visitor)
    return render(
        request,
        "patient/sharing.html",
        {
            "visitor": visitor,
            "objection": objection,
            "objection_when": when_words(objection.recorded_at) if objection else "",
        },
    )


@require_http_methods(["GET", "POST"])
@patient_required
def object_to_sharing(request: HttpRequest, visitor: PatientVisitor) -> HttpResponse:
    """A page saying plainly what an objection does, then the objection itself (POST)."""
    if _standing_objection(visitor) is not None:
        return redirect("patient-sharing")
    if request.method == "POST":
        try:
            with transaction.atomic():
                record_objection(patient=visitor.patient, notes=OBJECTION_NOTES, by_patient=True)
                _visit(request, visitor, PatientVisit.Action.OBJECTED)
        except ObjectionError as error:
            messages.error(request, str(error))
            return redirect("patient-sharing")
        messages.success(request, "Your objection is recorded. Your record is no longer shared.")
        return redirect("patient-sharing")
    return render(request, "patient/object.html", {"visitor": visitor})


@require_http_methods(["GET", "POST"])
@patient_required
def withdraw(request: HttpRequest, visitor: PatientVisitor) -> HttpResponse:
    """Withdraw your objection: a page saying what that means, then the withdrawal (POST)."""
    objection = _standing_objection(visitor)
    if objection is None:
        return redirect("patient-sharing")
    if request.method == "POST":
        with transaction.atomic():
            withdraw_objection(objection=objection, by_patient=True)
            _visit(request, visitor, PatientVisit.Action.WITHDREW_OBJECTION)
        messages.success(
            request,
            "Your objection is withdrawn. Your record is shared again with the professionals "
            "caring for you.",
        )
        return redirect("patient-sharing")
    return render(request, "patient/withdraw.html", {"visitor": visitor, "objection": objection})
