"""Merging two register entries of one person, from the portal: choose them (by NHS number),
compare them side by side, merge (or, when date of birth, sex or NHS number differ, ask a second
person to approve), decide another's request, and undo a merge.

Every page that names the two records records a look at each. The rules (two people when they
differ, never your own request, a reason for everything) are records.services'.
"""

from django import forms
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods

from access.models import AccessBasis
from access.web import actor_from_request, require_merger
from audit.models import Channel
from audit.request_context import context_from_request
from audit.services import record_looks_at_details, record_search
from care_record.identity_comparison import register_against_register, restricted_notice
from records import services
from records.exceptions import IdentityError, ReasonMissing
from records.limits import FREE_TEXT_MAX_LENGTH, NHS_NUMBER_INPUT_MAX_LENGTH
from records.models import MergeDifference, Patient, PatientMerge, PatientMergeRequest
from records.nhs_numbers import normalise_nhs_number
from records.permissions import may_merge, may_unmerge
from records.selectors import merge_differences, merge_requests_waiting, recent_merges

REASON_TOO_LONG = f"Enter a reason of {FREE_TEXT_MAX_LENGTH:,} characters or fewer"


def _reason_field(label: str) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,  # records.services says a reason is needed, and in what words
        max_length=FREE_TEXT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"max_length": REASON_TOO_LONG},
    )


def _looks(request: HttpRequest, patients: list[Patient]) -> None:
    record_looks_at_details(
        actor=actor_from_request(request),
        patients=patients,
        basis=AccessBasis.ADMINISTRATION,
        context=context_from_request(request),
    )


def _confirmed(request: HttpRequest) -> bool:
    """Whether the form was sent from its confirmation page (the second step)."""
    return request.POST.get("confirmed") == "yes"


@never_cache
@require_GET
def merges(request: HttpRequest) -> HttpResponse:
    """Merge requests waiting for a second person, and the latest merges: whose and when, never
    whom (each opens on a page that records the look)."""
    require_merger(request, or_unmerger=True)
    return render(
        request,
        "identity/merges.html",
        {
            "requests": list(merge_requests_waiting()[:100]),
            "merges": recent_merges(),
            "may_merge": may_merge(request.user),
            "Difference": MergeDifference,
        },
    )


class NhsNumberField(forms.CharField):
    def __init__(self, **kwargs) -> None:
        super().__init__(
            max_length=NHS_NUMBER_INPUT_MAX_LENGTH,
            error_messages={
                "required": f"Enter the NHS number of the {kwargs.pop('which')} record",
                "max_length": "Enter an NHS number of 10 digits",
            },
            **kwargs,
        )

    def clean(self, value):
        value = super().clean(value)
        return normalise_nhs_number(value)


class ChooseForm(forms.Form):
    first = NhsNumberField(label="NHS number of one record", which="first")
    second = NhsNumberField(label="NHS number of the other record", which="second")

    def clean(self) -> dict:
        data = super().clean()
        self.found = {}
        for name in ("first", "second"):
            number = data.get(name)
            if not number:
                continue
            patient = Patient.objects.filter(nhs_number=number).first()
            if patient is None:
                self.add_error(name, "No patient in the register has this NHS number")
            else:
                self.found[name] = patient
        first, second = self.found.get("first"), self.found.get("second")
        if first is not None and first == second:
            self.add_error("second", "Enter the NHS number of a different record")
        return data


@never_cache
@require_http_methods(["GET", "POST"])
def choose(request: HttpRequest) -> HttpResponse:
    """NHS numbers are posted, never put in the address; each search is recorded."""
    require_merger(request)
    form = ChooseForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        valid = form.is_valid()
        actor = actor_from_request(request)
        for name in ("first", "second"):
            if form.cleaned_data.get(name):
                record_search(
                    user=request.user,
                    team=actor.team,
                    role=actor.role,
                    purpose="merge register records",
                    query=form.cleaned_data[name],
                    found=form.found.get(name),
                    channel=Channel.WEB,
                    context=context_from_request(request),
                )
        if valid:
            first, second = form.found["first"], form.found["second"]
            return redirect(
                f"{reverse('identity-merge-compare')}?first={first.pk}&second={second.pk}"
            )
    return render(
        request, "identity/choose.html", {"form": form}, status=400 if form.errors else 200
    )


class MergeForm(forms.Form):
    kept = forms.ChoiceField(
        label="Which record should be kept?",
        required=True,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Choose which record to keep",
            "invalid_choice": "Choose which record to keep",
        },
    )
    reason = _reason_field("Why are these the same person?")

    def __init__(self, *args, first: Patient, second: Patient, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.patients = {str(first.pk): first, str(second.pk): second}
        self.fields["kept"].choices = [
            (str(p.pk), f"{p.full_name}, NHS number {p.formatted_nhs_number}")
            for p in (first, second)
        ]

    def pair(self) -> tuple[Patient, Patient]:
        """(kept, retired), once valid."""
        kept = self.patients[self.cleaned_data["kept"]]
        retired = next(p for p in self.patients.values() if p.pk != kept.pk)
        return kept, retired


def _two_patients(request: HttpRequest) -> tuple[Patient, Patient]:
    """The two register entries the address names (its forms post back to the same address)."""
    ids = []
    for name in ("first", "second"):
        value = request.GET.get(name, "")
        if not value.isdigit() or len(value) > 18:
            raise Http404("no such patient")
        ids.append(int(value))
    found = {p.pk: p for p in Patient.objects.filter(pk__in=ids).select_related("merged_into")}
    if len(found) != 2:
        raise Http404("no such pair of patients")
    return found[ids[0]], found[ids[1]]


@never_cache
@require_http_methods(["GET", "POST"])
def compare(request: HttpRequest) -> HttpResponse:
    """Two register entries side by side with what differs; which to keep and why; then a
    confirmation: a merge, or a request for a second person's approval when they differ."""
    require_merger(request)
    first, second = _two_patients(request)
    differences = merge_differences(kept=first, retired=second)
    form = MergeForm(request.POST if request.method == "POST" else None, first=first, second=second)
    confirming = False
    if request.method == "POST" and form.is_valid():
        kept, retired = form.pair()
        if not _confirmed(request):
            if not form.cleaned_data["reason"].strip():
                form.add_error("reason", "Enter why these records are the same person")
            else:
                confirming = True
        else:
            try:
                if differences:
                    asked = services.request_merge(
                        kept=kept, retired=retired, reason=form.cleaned_data["reason"],
                        actor=request.user,
                    )  # fmt: skip
                else:
                    merge = services.merge_patients(
                        kept=kept, retired=retired, reason=form.cleaned_data["reason"],
                        actor=request.user,
                    )  # fmt: skip
            except ReasonMissing as exc:
                form.add_error("reason", str(exc))
            except IdentityError as exc:
                form.add_error(None, str(exc))
            else:
                if differences:
                    messages.success(
                        request, "Merge requested: someone else with the merge permission must "
                        "approve it before anything changes.",
                    )  # fmt: skip
                    return redirect("identity-merge-request", request_id=asked.pk)
                messages.success(request, "Merged: the kept record now has every link.")
                return redirect("identity-merge", merge_id=merge.pk)
    _looks(request, [first, second])
    return render(
        request,
        "identity/compare.html",
        {
            "first": first,
            "second": second,
            "rows": register_against_register(first, second),
            "differences": [MergeDifference(d).label for d in differences],
            "notice": restricted_notice(first, second),
            "form": form,
            "confirming": confirming,
            "kept_retired": form.pair() if confirming else None,
        },
        status=400 if form.errors else 200,
    )


class RequestDecisionForm(forms.Form):
    outcome = forms.ChoiceField(
        label="Your decision",
        widget=forms.RadioSelect,
        choices=[("approve", "Approve: they are the same person, merge them"),
                 ("refuse", "Refuse: do not merge them")],
        error_messages={"required": "Choose whether to approve or refuse the merge",
                        "invalid_choice": "Choose whether to approve or refuse the merge"},
    )  # fmt: skip
    reason = _reason_field("Why?")


@never_cache
@require_http_methods(["GET", "POST"])
def merge_request(request: HttpRequest, request_id: int) -> HttpResponse:
    """A merge one reviewer asked for: the two records compared, what differs, their reason;
    for anyone else who may merge, approve or refuse it (confirmed, with a reason)."""
    require_merger(request)
    asked = get_object_or_404(
        PatientMergeRequest.objects.select_related(
            "kept", "retired", "requested_by", "decided_by", "merge"
        ),
        pk=request_id,
    )
    own = asked.requested_by_id == request.user.pk
    decidable = asked.status == PatientMergeRequest.Status.PENDING and not own
    form = RequestDecisionForm(request.POST if request.method == "POST" else None)
    confirming = False
    if request.method == "POST" and decidable and form.is_valid():
        outcome, reason = form.cleaned_data["outcome"], form.cleaned_data["reason"]
        if not _confirmed(request):
            if not reason.strip():
                form.add_error("reason", "Enter why you approve or refuse this merge")
            else:
                confirming = True
        else:
            try:
                if outcome == "approve":
                    merge = services.approve_merge_request(
                        request=asked, reason=reason, actor=request.user
                    )
                else:
                    services.refuse_merge_request(request=asked, reason=reason, actor=request.user)
            except ReasonMissing as exc:
                form.add_error("reason", str(exc))
            except IdentityError as exc:
                form.add_error(None, str(exc))
            else:
                if outcome == "approve":
                    messages.success(request, "Approved and merged.")
                    return redirect("identity-merge", merge_id=merge.pk)
                messages.success(request, "Refused: nothing was merged.")
                return redirect("identity-merge-request", request_id=asked.pk)
    elif request.method == "POST" and not decidable:
        form.add_error(
            None,
            "You asked for this merge: someone else must decide it."
            if own
            else "This merge request has already been decided.",
        )
    _looks(request, [asked.kept, asked.retired])
    return render(
        request,
        "identity/merge_request.html",
        {
            "asked": asked,
            "rows": register_against_register(asked.kept, asked.retired),
            "differences": [MergeDifference(d).label for d in asked.differences
                            if d in MergeDifference.values],
            "notice": restricted_notice(asked.kept, asked.retired),
            "own": own,
            "decidable": decidable,
            "form": form,
            "confirming": confirming,
            "Status": PatientMergeRequest.Status,
        },
        status=400 if form.errors else 200,
    )  # fmt: skip


class UnmergeForm(forms.Form):
    reason = _reason_field("Why is this merge being undone?")


@never_cache
@require_http_methods(["GET", "POST"])
def merge_page(request: HttpRequest, merge_id: int) -> HttpResponse:
    """A merge made: the two records, who merged (and approved) it and why; for those who may,
    undo it (confirmed, with a reason)."""
    require_merger(request, or_unmerger=True)
    merge = get_object_or_404(
        PatientMerge.objects.select_related(
            "kept", "retired", "merged_by", "approved_by", "undone_by"
        ),
        pk=merge_id,
    )
    undoable = merge.undone_at is None and may_unmerge(request.user)
    form = UnmergeForm(request.POST if request.method == "POST" else None)
    confirming = False
    if request.method == "POST" and not undoable:
        form.add_error(None, "This merge cannot be undone here.")
    elif request.method == "POST" and form.is_valid():
        reason = form.cleaned_data["reason"]
        if not _confirmed(request):
            if not reason.strip():
                form.add_error("reason", "Enter why this merge is being undone")
            else:
                confirming = True
        else:
            try:
                services.unmerge(merge=merge, reason=reason, actor=request.user)
            except ReasonMissing as exc:
                form.add_error("reason", str(exc))
            except IdentityError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, "Merge undone: both records stand again.")
                return redirect("identity-merge", merge_id=merge.pk)
    _looks(request, [merge.kept, merge.retired])
    return render(
        request,
        "identity/merge.html",
        {
            "merge": merge,
            "rows_compared": register_against_register(merge.kept, merge.retired),
            "notice": restricted_notice(merge.kept, merge.retired),
            "undoable": undoable,
            "form": form,
            "confirming": confirming,
        },
        status=400 if form.errors else 200,
    )
