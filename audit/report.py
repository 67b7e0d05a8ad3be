"""A patient's access report in plain English: one `Look` per look at the record, its live
updates folded in, with who (name, job role, organisation), what, when, why and how.

The one presentation of the trail for people: the privacy officers' page, the PDF, the CSV and
the FHIR export, and the patients' own page, all read their looks here. Each batch of looks
costs a bounded number of queries (the events with their users, then the updates, the
relationships, the emergency accesses and the partner systems named in the batch).
"""

import datetime
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import islice

from django.core.paginator import Page, Paginator
from django.utils import timezone

from access.models import AccessBasis, ApiClient, BreakGlassAccess, CareRelationship, Role
from audit.models import DETAILS, AccessEvent, Channel, LookUpdate
from audit.selectors import access_report
from records.categories import ALL_CATEGORIES, Category
from records.models import Patient

BATCH = 2000
PAGE_SIZE = 100
DETAILS_LABEL = "Personal details"
ROLE_LABELS = dict(Role.choices)
HEADING_LABELS = {**dict(Category.choices), DETAILS: DETAILS_LABEL}
WHOLE_RECORD = "The whole record (every heading)"
BREAK_GLASS_REASONS = dict(BreakGlassAccess.Reason.choices)

# Why a team cared for the patient, as the patient would say it ("caring for you: ...").
RELATIONSHIP_WORDS = {
    CareRelationship.Kind.REGISTERED_GP: "registered with the practice",
    CareRelationship.Kind.CURRENT_EPISODE: "treating you now",
    CareRelationship.Kind.SOCIAL_CARE_CASE: "supporting you through social care",
    CareRelationship.Kind.REFERRAL: "you were referred to them",
}
BASIS_WORDS = {
    AccessBasis.RELATIONSHIP: "caring for you",
    AccessBasis.BREAK_GLASS: "emergency access",
    AccessBasis.ADMINISTRATION: "arranging who cares for you (your personal details only)",
    AccessBasis.PRIVACY_REVIEW: "checking who has looked at your record (privacy review)",
}
WEB_WORDS = "through the portal"


@dataclass(frozen=True)
class ReportFilters:
    """What a report is narrowed to; empty: every look."""

    since: datetime.date | None = None
    until: datetime.date | None = None
    organisation: str = ""
    user_id: int | None = None
    basis: str = ""
    channel: str = ""

    def kwargs(self) -> dict:
        return asdict(self)

    def as_json(self) -> dict:
        """As a subject access request keeps them (dates as ISO text; unset ones left out)."""
        values = {
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "organisation": self.organisation,
            "user_id": self.user_id,
            "basis": self.basis,
            "channel": self.channel,
        }
        return {key: value for key, value in values.items() if value not in (None, "")}

    def describe(self) -> str:
        """The filters in words, for the top of a report: "Every look." when there are none."""
        parts = []
        if self.since and self.until:
            parts.append(f"from {day_words(self.since)} to {day_words(self.until)}")
        elif self.since:
            parts.append(f"from {day_words(self.since)}")
        elif self.until:
            parts.append(f"up to {day_words(self.until)}")
        if self.organisation:
            parts.append(f"by organisation {self.organisation}")
        if self.user_id is not None:
            parts.append("by one person")
        if self.basis:
            parts.append(f"on the basis {dict(AccessBasis.choices).get(self.basis, self.basis)}")
        if self.channel:
            parts.append(f"through {dict(Channel.choices).get(self.channel, self.channel)}")
        return f"Looks {', '.join(parts)}." if parts else "Every look."


@dataclass(frozen=True)
class Look:
    """One look at the record, as a person would read it."""

    event_id: int
    occurred_at: datetime.datetime
    professional_name: str
    username: str
    job_role: str
    organisation: str
    organisation_code: str
    headings: list[str]
    items_shown: int  # everything the look showed, its live updates included
    items_added_later: int  # of those, what arrived after the page was drawn
    basis: str  # in plain English
    emergency_reason: str  # the reason chosen for an emergency access, else ""
    emergency_explanation: str
    channel: str  # in plain English
    user_id: int | None
    # The codes and ids behind the words, for analysts and systems (CSV, FHIR).
    role_code: str = ""
    heading_codes: tuple[str, ...] = ()
    basis_code: str = ""
    channel_code: str = ""
    relationship_id: int | None = None
    break_glass_id: int | None = None
    partner_system: str = ""
    resource_ids: tuple[str, ...] = ()  # every item shown, the updates' too
    event: AccessEvent | None = field(default=None, repr=False, compare=False)

    @property
    def when(self) -> str:
        return when_words(self.occurred_at)

    @property
    def who(self) -> str:
        """'Amira Khan, GP, Stoke Newington Church Street Surgery'."""
        parts = (self.professional_name, self.role_and_organisation)
        return ", ".join(part for part in parts if part)

    @property
    def role_and_organisation(self) -> str:
        return ", ".join(part for part in (self.job_role, self.organisation) if part)

    @property
    def what(self) -> str:
        """'Personal details, medicines and test results: 12 items, and 3 more as they arrived'."""
        if set(self.heading_codes) >= set(ALL_CATEGORIES):
            headings = WHOLE_RECORD
        else:
            headings = sentence_list(self.headings)
        if not self.items_shown:
            return headings
        first = self.items_shown - self.items_added_later
        shown = f"{first} item{'' if first == 1 else 's'}"
        if self.items_added_later:
            more = self.items_added_later
            shown += f", and {more} more item{'' if more == 1 else 's'} as they arrived"
        return f"{headings}: {shown}"


def looks_for_patient(patient: Patient, **filters) -> list[Look]:
    """Every look at this patient's record matching the filters (ReportFilters' fields), newest
    first."""
    return list(iter_looks(patient, **filters))


def iter_looks(patient: Patient, **filters) -> Iterator[Look]:
    """looks_for_patient for exports: the trail read BATCH events at a time, never all at once."""
    events = access_report(patient, **filters).iterator(chunk_size=BATCH)
    while batch := list(islice(events, BATCH)):
        yield from looks_from_events(batch)


def looks_page(
    patient: Patient, number: str | int | None, *, size: int = PAGE_SIZE, **filters
) -> Page:
    """One page of the report (`size` looks, paged in the database) as Looks."""
    page = Paginator(access_report(patient, **filters), size).get_page(number)
    page.object_list = looks_from_events(list(page.object_list))
    return page


def looks_from_events(events: list[AccessEvent]) -> list[Look]:
    """These access events (with their users selected) as Looks: at most four more queries,
    whatever their number."""
    ids = [event.pk for event in events]
    updates: dict[int, list[str]] = {}
    if ids:
        for look_id, resource_ids in LookUpdate.objects.filter(look_id__in=ids).values_list(
            "look_id", "resource_ids"
        ):
            updates.setdefault(look_id, []).extend(resource_ids)
    kinds = _values(CareRelationship, {e.relationship_id for e in events}, "kind")
    glass = _values(BreakGlassAccess, {e.break_glass_id for e in events}, "reason", "explanation")
    clients = {e.client_id for e in events if e.client_id}
    names = (
        dict(
            ApiClient.objects.filter(application__client_id__in=clients).values_list(
                "application__client_id", "name"
            )
        )
        if clients
        else {}
    )
    return [_look(event, updates.get(event.pk, []), kinds, glass, names) for event in events]


def _values(model, ids: set, *fields: str) -> dict:
    ids.discard(None)
    if not ids:
        return {}
    rows = model.objects.filter(pk__in=ids).values_list("pk", *fields)
    return {row[0]: row[1] if len(fields) == 1 else row[1:] for row in rows}


def _look(event: AccessEvent, later: list[str], kinds: dict, glass: dict, clients: dict) -> Look:
    reason, explanation = "", ""
    if event.basis == AccessBasis.BREAK_GLASS:
        code, explanation = glass.get(event.break_glass_id, ("", ""))
        reason = BREAK_GLASS_REASONS.get(code, code)
        basis = f"{BASIS_WORDS[AccessBasis.BREAK_GLASS]}: {first_lower(reason)}"
        if explanation:
            basis += f", \u2018{explanation}\u2019"
    elif event.basis == AccessBasis.RELATIONSHIP and event.relationship_id in kinds:
        basis = f"{BASIS_WORDS[event.basis]}: {RELATIONSHIP_WORDS[kinds[event.relationship_id]]}"
    else:
        basis = BASIS_WORDS.get(event.basis, event.basis)
    partner = clients.get(event.client_id, "a partner system") if event.client_id else ""
    name = event.user.get_full_name().strip() if event.user else ""
    if event.channel == Channel.API:
        name = event.end_user or partner
    return Look(
        event_id=event.pk,
        occurred_at=event.occurred_at,
        professional_name=name or event.username,
        username=event.username,
        job_role=ROLE_LABELS.get(event.role, event.role),
        organisation=event.team_name or event.organisation_ods_code,
        organisation_code=event.organisation_ods_code,
        headings=[HEADING_LABELS.get(code, code) for code in event.categories],
        items_shown=len(event.resource_ids) + len(later),
        items_added_later=len(later),
        basis=basis,
        emergency_reason=reason,
        emergency_explanation=explanation,
        channel=f"through {partner}" if event.channel == Channel.API else WEB_WORDS,
        user_id=event.user_id,
        role_code=event.role,
        heading_codes=tuple(event.categories),
        basis_code=event.basis,
        channel_code=event.channel,
        relationship_id=event.relationship_id,
        break_glass_id=event.break_glass_id,
        partner_system=partner,
        resource_ids=(*event.resource_ids, *later),
        event=event,
    )


MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)  # fmt: skip


def day_words(day: datetime.date) -> str:
    """A date as NHS.UK writes it: '3 December 2026'."""
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def time_words(moment: datetime.datetime) -> str:
    """A time as NHS.UK writes it: '2:30pm', '9am', 'midday', 'midnight'."""
    if (moment.hour, moment.minute) == (12, 0):
        return "midday"
    if (moment.hour, moment.minute) == (0, 0):
        return "midnight"
    hour = moment.hour % 12 or 12
    suffix = "am" if moment.hour < 12 else "pm"
    return f"{hour}{suffix}" if moment.minute == 0 else f"{hour}:{moment.minute:02d}{suffix}"


def when_words(moment: datetime.datetime) -> str:
    """'3 December 2026 at 2:30pm', in London time."""
    local = timezone.localtime(moment)
    return f"{day_words(local.date())} at {time_words(local)}"


def first_lower(text: str) -> str:
    """'Emergency treatment' -> 'emergency treatment' (an initialism like 'A&E' stays)."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def sentence_list(labels: Iterable[str]) -> str:
    """['Personal details', 'Medicines', 'Test results'] -> 'Personal details, medicines and
    test results'; ['Medicines', 'Alerts and flags'] -> 'Medicines; alerts and flags'."""
    words = [label if n == 0 else first_lower(label) for n, label in enumerate(labels)]
    if len(words) <= 1:
        return "".join(words)
    if any(" and " in word or "," in word for word in words):
        # 'Allergies and reactions; alerts and flags': commas and a last 'and' would run the
        # headings into each other.
        return "; ".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"
