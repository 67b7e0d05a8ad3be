"""Identity reviewers' pages: the queue of source records that could not be linked by NHS number,
one record beside each register entry that may be the same person, and the decisions (link, not
the same person, need more information, no match), each confirmed, with its reason.

The queue names nobody (as the admin's never did); a record's page and a decision's confirmation
name the candidates, and each records a look at every register patient it shows. The rules are
records.services'; these pages parse, call them and show their refusals.
"""

import urllib.parse
from enum import StrEnum

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from access.models import AccessBasis
from access.web import actor_from_request, require_identity_reviewer
from audit.request_context import context_from_request
from audit.services import record_looks_at_details
from care_record.identity_comparison import restricted_notice, source_against_register
from records import services
from records.exceptions import IdentityError, ReasonMissing
from records.limits import FREE_TEXT_MAX_LENGTH
from records.matching import explain_score
from records.models import MatchCandidate, Patient, SourceSystem, UnmatchedRecord
from records.permissions import may_merge
from records.selectors import (
    IdentityQueueFilter,
    QueueAge,
    identity_queue,
    record_for_review,
)

QUEUE_PAGE = 50


class QueueFilterForm(forms.Form):
    status = forms.ChoiceField(
        label="Show",
        required=False,
        choices=[("waiting", "Waiting (to review, or needing information)"),
                 *UnmatchedRecord.Status.choices],
        error_messages={"invalid_choice": "Choose what to show from the list"},
    )  # fmt: skip
    source = forms.ModelChoiceField(
        label="Source",
        required=False,
        queryset=SourceSystem.objects.order_by("name"),
        empty_label="Any source",
        error_messages={"invalid_choice": "Choose a source from the list"},
    )
    reason = forms.ChoiceField(
        label="Why it waits",
        required=False,
        choices=[("", "Any reason"), *UnmatchedRecord.Reason.choices],
        error_messages={"invalid_choice": "Choose a reason from the list"},
    )
    age = forms.ChoiceField(
        label="Waiting for",
        required=False,
        choices=QueueAge.choices,
        error_messages={"invalid_choice": "Choose how long from the list"},
    )

    def queue_filter(self) -> IdentityQueueFilter:
        data = self.cleaned_data
        return IdentityQueueFilter(
            status=data["status"] or "waiting",
            source_id=data["source"].pk if data["source"] else None,
            reason=data["reason"],
            age=data["age"],
        )


@never_cache
@require_GET
def queue(request: HttpRequest) -> HttpResponse:
    """Source records by review state (waiting by default), filtered, a page at a time: source,
    local id, why and since when, candidates and their best score; no one's name."""
    require_identity_reviewer(request)
    form = QueueFilterForm(request.GET)
    page, query = None, ""
    if form.is_valid():
        page = Paginator(identity_queue(form.queue_filter()), QUEUE_PAGE).get_page(
            request.GET.get("page")
        )
        query = urllib.parse.urlencode(
            [(k, v) for k, v in request.GET.items() if k != "page" and k in form.fields]
        )
    return render(
        request,
        "identity/queue.html",
        {"form": form, "page": page, "query": query, "Status": UnmatchedRecord.Status},
        status=200 if page is not None else 400,
    )


class Decision(StrEnum):
    """What a reviewer may decide about a source record, each through records.services."""

    LINK = "link"
    NOT_SAME = "not-same"
    MORE_INFORMATION = "more-information"
    DISMISS = "dismiss"


DECISION_WORDS = {
    Decision.LINK: {
        "title": "Link the records",
        "button": "Link: they are the same person",
        "reason": "Why is this the same person?",
        "done": "Linked: the source's record is now part of this person's shared record.",
    },
    Decision.NOT_SAME: {
        "title": "Not the same person",
        "button": "Confirm: not the same person",
        "reason": "Why is this not the same person?",
        "done": "Recorded: not the same person. They will not be offered for this record again.",
    },
    Decision.MORE_INFORMATION: {
        "title": "Ask for more information",
        "button": "Confirm: more information needed",
        "reason": "What information is needed, and from whom?",
        "done": "Recorded: the record waits for more information.",
    },
    Decision.DISMISS: {
        "title": "No match in the register",
        "button": "Confirm: nobody in the register is this person",
        "reason": "Why is nobody in the register this person?",
        "done": "Recorded: no match. Identity sync will not offer this record again.",
    },
}
NEEDS_CANDIDATE = (Decision.LINK, Decision.NOT_SAME)


class DecisionForm(forms.Form):
    """Shape only: that a reason is needed, and whether the decision may be made, are
    records.services' rules; their refusal is shown on the field it concerns."""

    reason = forms.CharField(
        label="Reason",
        required=False,
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"max_length": f"Enter a reason of {FREE_TEXT_MAX_LENGTH:,} characters "
                                      "or fewer"},
    )  # fmt: skip


def _looks(request: HttpRequest, patients: list[Patient]) -> None:
    """The page names these register patients: one look at each, before it is sent."""
    record_looks_at_details(
        actor=actor_from_request(request),
        patients=patients,
        basis=AccessBasis.ADMINISTRATION,
        context=context_from_request(request),
    )


def _record(record_id: int) -> tuple[UnmatchedRecord, list[MatchCandidate]]:
    try:
        return record_for_review(record_id)
    except UnmatchedRecord.DoesNotExist:
        raise Http404("no such source record") from None


def _comparisons(record: UnmatchedRecord, candidates: list[MatchCandidate]) -> list[dict]:
    # A record that may be a restricted person keeps its postcode unsaid (as in the admin).
    hide = any(c.patient.contact.restricted for c in candidates)
    return [
        {
            "candidate": c,
            "rows": source_against_register(record, c.patient, hide_source_postcode=hide),
            "score_words": explain_score(c.breakdown),
            "score_points": round(c.score * 100),
        }
        for c in candidates
    ]


@never_cache
@require_GET
def record_page(request: HttpRequest, record_id: int) -> HttpResponse:
    """One source record beside each candidate register entry, the score in words, the
    decisions open to the reviewer, and what was decided already (with its reason)."""
    require_identity_reviewer(request)
    record, candidates = _record(record_id)
    _looks(request, [c.patient for c in candidates])
    return render(
        request,
        "identity/record.html",
        {
            "record": record,
            "comparisons": _comparisons(record, candidates),
            "waiting": record.status in UnmatchedRecord.WAITING,
            "notice": restricted_notice(*(c.patient for c in candidates)),
            "Decision": Decision,
            "Status": UnmatchedRecord.Status,
            "CandidateStatus": MatchCandidate.Status,
            "open_candidates": [c for c in candidates if c.status == MatchCandidate.Status.PENDING],
            "may_merge": may_merge(request.user),
        },
    )


@never_cache
@require_http_methods(["GET", "POST"])
def decide(request: HttpRequest, record_id: int) -> HttpResponse:
    """The confirmation of one decision, with its reason: GET asks, POST decides. A decision
    about a candidate names it (`candidate`); one the record no longer offers is not found."""
    require_identity_reviewer(request)
    data = request.POST if request.method == "POST" else request.GET
    try:
        decision = Decision(data.get("decision", ""))
    except ValueError:
        raise Http404("no such decision") from None
    record, candidates = _record(record_id)
    candidate = None
    if decision in NEEDS_CANDIDATE:
        wanted = data.get("candidate", "")
        candidate = next((c for c in candidates if str(c.pk) == wanted), None)
        if candidate is None:
            raise Http404("no such candidate")
    shown = [candidate] if candidate is not None else candidates
    form = DecisionForm(request.POST if request.method == "POST" else None)
    form.fields["reason"].label = DECISION_WORDS[decision]["reason"]
    if request.method == "POST" and form.is_valid():
        try:
            _carry_out(decision, record, candidate, form.cleaned_data["reason"], request)
        except ReasonMissing as exc:
            form.add_error("reason", str(exc))
        except IdentityError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, DECISION_WORDS[decision]["done"])
            return redirect("identity-record", record_id=record.pk)
    _looks(request, [c.patient for c in shown])
    return render(
        request,
        "identity/decide.html",
        {
            "record": record,
            "decision": decision,
            "words": DECISION_WORDS[decision],
            "candidate": candidate,
            "comparisons": _comparisons(record, shown),
            "notice": restricted_notice(*(c.patient for c in shown)),
            "form": form,
            "Decision": Decision,
        },
        status=400 if form.errors else 200,
    )


def _carry_out(
    decision: Decision,
    record: UnmatchedRecord,
    candidate: MatchCandidate | None,
    reason: str,
    request: HttpRequest,
) -> None:
    actor = request.user
    if decision == Decision.LINK:
        services.confirm_candidate(candidate=candidate, reason=reason, actor=actor)
    elif decision == Decision.NOT_SAME:
        services.reject_candidate(candidate=candidate, reason=reason, actor=actor)
    elif decision == Decision.MORE_INFORMATION:
        services.ask_for_more_information(record=record, reason=reason, actor=actor)
    else:
        services.dismiss_unmatched(record=record, reason=reason, actor=actor)
