"""read_record: the single choke point for every read of patient data, web and API alike.

Authorise (access.policy), then, in one transaction: ask the worker to refresh what is missing
or stale, read the cached snapshots the decision allows, and write the access event naming what
is shown. If the event cannot be written, the read fails and nothing is shown. A read continuing
an open look (its live updates, its "Refresh now") is authorised again but is part of that look:
it names the look's event and writes none of its own.
"""

import datetime
import logging
from collections.abc import Collection
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from access.exceptions import AccessDenied
from access.models import AccessBasis
from access.policy import DIRECT_CARE, Actor, Decision, decide
from access.sensitivity import SENSITIVE_WARNING, sensitive_codes, sensitivities_of, withheld_words
from audit.exceptions import AuditUnavailable
from audit.metrics import audit_write_failed, look_read
from audit.models import AccessEvent, Channel
from audit.selectors import look_is_open
from audit.services import RequestContext, record_access, record_look_update
from records import deadlines
from records.categories import Category
from records.deadlines import StateWords
from records.fetching import SourceState, is_stale, request_refresh, state_of
from records.models import (
    ItemsField,
    Link,
    Patient,
    Snapshot,
    SourceSystem,
    without_restricted_details_in_items,
)
from records.sources.gp_connect import NOT_CARRIED

SENSITIVE_SOURCE_KINDS = (SourceSystem.Kind.MENTAL_HEALTH,)


def hidden_source_kinds(decision: Decision) -> tuple[str, ...]:
    """The kinds of source this look may not see at all (mental health, for most roles)."""
    return () if decision.sees_sensitive_sources else SENSITIVE_SOURCE_KINDS


logger = logging.getLogger(__name__)


class LookEnded(Exception):
    """The look an update names is not this actor's open look at this patient (it is someone
    else's, of another patient or team, or older than LCR_LOOK_OPEN_MINUTES): a new look is
    needed, which writes its own access event."""


@dataclass
class SourceView:
    """One linked source's state for this look (its headings' worst): what a reader must know."""

    source: SourceSystem
    state: SourceState
    reason: str = ""
    fetched_at: datetime.datetime | None = None
    withheld: list[str] = field(default_factory=list)  # per heading: what was not shown, and why
    kept_earlier: bool = False  # a failed heading still shows what the source sent before
    words: StateWords | None = None  # asking, retrying or timed out, in the reader's words
    deadline_at: datetime.datetime | None = None  # while asking: when it will read timed out


@dataclass
class HeadingSource:
    """One source's part in one heading: its state, what it showed and withheld, and why."""

    source: SourceSystem
    state: SourceState
    shown: int = 0
    withheld: int = 0
    withheld_reason: str = ""  # "sent ...", empty when nothing was withheld
    reason: str = ""  # why it failed, when it did
    sensitive: int = 0  # items it sent that this look may not show because they are sensitive
    words: StateWords | None = None  # asking, retrying or timed out, in the reader's words


@dataclass
class CategoryView:
    category: str
    label: str
    items: list[dict] = field(default_factory=list)  # each with its source and age
    # Why the heading may be incomplete, one line per source ("<source>: <reason>") that failed
    # or withheld some, so that a heading never reads "None recorded" when one of them did.
    unavailable: list[str] = field(default_factory=list)
    withheld_notes: list[str] = field(default_factory=list)
    withheld: int = 0  # resources counted but not shown, every source together
    sources: list[HeadingSource] = field(default_factory=list)  # every source that may hold it
    sensitive: int = 0  # items withheld because they are sensitive, every source together
    updated_at: datetime.datetime | None = None  # its sources' latest save: what updates compare
    # Whether its items were read: a read may leave out the headings it does not show (their
    # sources' states are still read). A heading not read is never empty, only not shown yet.
    loaded: bool = True

    @property
    def notes(self) -> list[str]:
        sensitive = [withheld_words(self.sensitive)] if self.sensitive else []
        return self.unavailable + self.withheld_notes + sensitive

    @property
    def waiting(self) -> list[str]:
        """The sources still being asked for this heading (their names)."""
        return [part.source.name for part in self.sources if part.state.asking]

    @property
    def complete(self) -> bool:
        """Every source that may hold this heading answered, and none withheld anything: only
        then may an empty heading read "None recorded"; never one whose items this read left out."""
        return (
            self.loaded
            and all(
                part.state.answered and not part.withheld and not part.sensitive
                for part in self.sources
            )
            and not self.notes
        )


@dataclass
class RecordView:
    patient: Patient
    decision: Decision
    sources: list[SourceView]
    categories: list[CategoryView]
    read_at: datetime.datetime | None = None
    look_id: int | None = None  # the access event of the look this read is (part of)

    @property
    def withheld_labels(self) -> list[str]:
        labels = dict(Category.choices)
        return [labels[c].lower() for c in self.decision.denied_categories]

    @property
    def resource_ids(self) -> list[str]:
        """Every item shown, as source ODS code and resource id, for the access event."""
        return [
            f"{item['source_ods_code']}/{item['resource_type']}/{item['resource_id']}"
            for category in self.categories
            for item in category.items
        ]

    def category(self, category: str) -> CategoryView | None:
        return next((view for view in self.categories if view.category == category), None)

    @property
    def loading(self) -> bool:
        """A source is still being asked for one of the headings. Per heading, not per source: a
        source whose worst heading failed may still be asked for another, and the page must go
        on listening for it."""
        return any(part.state.asking for view in self.categories for part in view.sources)

    @property
    def next_deadline(self) -> datetime.datetime | None:
        """When the first source still being asked will read as timed out, even if nothing is
        saved then (its worker lost): a live page must be drawn again by that time."""
        return min((s.deadline_at for s in self.sources if s.deadline_at), default=None)


def record_look(
    *,
    actor: Actor,
    patient: Patient,
    decision: Decision,
    categories: list[str] | tuple[str, ...],
    resource_ids: list[str],
    channel: Channel,
    context: RequestContext | None,
) -> AccessEvent:
    """Write the access event of one look by this actor, on the basis the policy decided: the one
    place the look's who, why and how become its event (the record, a document)."""
    return record_access(
        user=actor.user,
        team=actor.team,
        role=actor.role,
        client_id=actor.client_id or "",
        end_user=actor.end_user,
        patient=patient,
        categories=categories,
        resource_ids=resource_ids,
        basis=decision.basis,
        relationship_id=decision.relationship_id,
        break_glass_id=decision.break_glass_id,
        channel=channel,
        purpose=decision.purpose,
        context=context or RequestContext(),
    )


def read_record(
    *,
    actor: Actor,
    patient: Patient,
    channel: Channel,
    categories: list[str] | tuple[str, ...] | None = None,
    purpose: str = DIRECT_CARE,
    refresh: bool = True,
    force_refresh: bool = False,
    context: RequestContext | None = None,
    look_id: int | None = None,
    items_of: Collection[str] | None = None,
) -> RecordView:
    """What this actor may see of this patient's record now; raises AccessDenied otherwise,
    and AuditUnavailable if the look could not be recorded. With `look_id`, a read continuing
    that open look (raises LookEnded if it is not one): no new access event. With `items_of`,
    only those headings' items are read, shown and named; every heading's state is read."""
    decision = decide(actor, patient, categories, purpose)
    if not decision.allowed:
        look_read(channel=channel, outcome="refused")
        raise AccessDenied(decision.why_not)
    excluded = hidden_source_kinds(decision)
    if look_id is not None:
        view = _continue_look(
            actor, patient, decision, excluded, look_id, refresh, force_refresh, items_of
        )
        look_read(channel=channel, outcome="continued")
        return view
    try:
        with transaction.atomic():
            view = _read(
                patient, decision, excluded, refresh, force_refresh, _asked_by(actor), items_of
            )
            event = record_look(
                actor=actor,
                patient=patient,
                decision=decision,
                categories=decision.categories,
                resource_ids=view.resource_ids,
                channel=channel,
                context=context,
            )
    except DatabaseError as exc:
        logger.exception("could not record a look at patient %s; nothing shown", patient.pk)
        audit_write_failed(what="look")
        look_read(channel=channel, outcome="not_recorded")
        raise AuditUnavailable("the look could not be recorded") from exc
    view.look_id = event.pk
    look_read(channel=channel, outcome="shown")
    return view


def _continue_look(
    actor: Actor,
    patient: Patient,
    decision: Decision,
    excluded: tuple,
    look_id: int,
    refresh: bool,
    force_refresh: bool,
    items_of: Collection[str] | None,
) -> RecordView:
    """An update of an open look: authorised again just now (by the caller), recorded as part of
    that look (what it shows that the look had not shown, named against the look's event), not
    as a look of its own. As for a look, if that cannot be written, nothing is shown."""
    opened_after = timezone.now() - datetime.timedelta(minutes=settings.LCR_LOOK_OPEN_MINUTES)
    if not look_is_open(look_id=look_id, actor=actor, patient=patient, opened_after=opened_after):
        raise LookEnded("this look has ended; open the record again")
    try:
        if refresh or force_refresh:  # it may ask the sources again: its claims, then the tasks
            with transaction.atomic():
                view = _read(
                    patient, decision, excluded, refresh, force_refresh, _asked_by(actor), items_of
                )
        else:
            # Reads only, outside a transaction: on SQLite one would hold the write lock (IMMEDIATE)
            # while the worker waits to save the next answer.
            view = _read(patient, decision, excluded, refresh, force_refresh, None, items_of)
        record_look_update(look_id=look_id, resource_ids=view.resource_ids)
    except DatabaseError as exc:
        logger.exception("could not record an update of look %s; nothing shown", look_id)
        audit_write_failed(what="look_update")
        raise AuditUnavailable("the look's update could not be recorded") from exc
    view.look_id = look_id
    return view


def _not_carried(snapshot: Snapshot) -> bool:
    return snapshot.status == Snapshot.Status.FAILED and snapshot.reason == NOT_CARRIED


def _asked_by(actor: Actor) -> dict[str, str]:
    """Who this look asks the sources for, as GP Connect's token names them for the practice's
    own audit. For a partner's call, the partner itself: the end user it names is its own
    assertion (kept in our access event), not a practitioner we can vouch for."""
    user = actor.user
    if actor.client_id:
        return {"user": f"api:{actor.client_id}", "family_name": actor.client_id, "role": "api"}
    return {
        "user": user.get_username(),
        "given_name": getattr(user, "first_name", "") or "",
        "family_name": getattr(user, "last_name", "") or "",
        "role": actor.role or "",
        "organisation_ods": actor.team.ods_code if actor.team else "",
        "organisation": actor.team.name if actor.team else "",
    }


def _read(
    patient: Patient,
    decision: Decision,
    excluded: tuple,
    refresh: bool,
    force_refresh: bool,
    asked_by: dict[str, str] | None = None,
    items_of: Collection[str] | None = None,
) -> "RecordView":
    links = list(
        Link.objects.filter(patient=patient).select_related("source").order_by("source__name")
    )
    shown = [link for link in links if link.source.kind not in excluded]
    snapshots = Snapshot.objects.filter(link__in=shown, category__in=decision.categories)
    if items_of is not None:
        # Still one query: the other headings' rows without their items (most of a look's bytes,
        # its decoding and its sensitivity walk).
        snapshots = snapshots.defer("items").annotate(
            read_items=Case(
                When(category__in=list(items_of), then=F("items")),
                default=Value(None),
                output_field=ItemsField(),
            )
        )
    found = list(snapshots)
    if refresh:
        asked = request_refresh(
            patient=patient,
            categories=decision.categories,
            exclude_kinds=excluded,
            force=force_refresh,
            known=(shown, found),
            asked_by=asked_by,
        )
        if asked or not all(link.source.enabled for link in shown):
            found = list(snapshots.all())  # as the requests (or a switched-off source) left them
    return _assemble(patient, decision, links, found, excluded, items_of)


def _assemble(patient, decision, links, snapshots, excluded, items_of=None) -> RecordView:
    now = timezone.now()
    by_link: dict[int, list[Snapshot]] = {}
    for snapshot in snapshots:
        by_link.setdefault(snapshot.link_id, []).append(snapshot)
    order = list(SourceState)
    labels = dict(Category.choices)
    sources, items_by_category = [], {c: [] for c in decision.categories}
    unavailable: dict[str, list[str]] = {c: [] for c in decision.categories}
    withheld_notes: dict[str, list[str]] = {c: [] for c in decision.categories}
    withheld: dict[str, int] = dict.fromkeys(decision.categories, 0)
    sensitive: dict[str, int] = dict.fromkeys(decision.categories, 0)
    updated: dict[str, datetime.datetime] = {}
    parts: dict[str, list[HeadingSource]] = {c: [] for c in decision.categories}
    shown = [link for link in links if link.source.kind not in excluded]
    read = [s for s in snapshots if items_of is None or s.category in items_of]
    read_pks = {s.pk for s in read}
    visible = _SensitiveFilter(decision, read)
    for link in shown:
        budget = deadlines.look_budget(link.source)
        # A fetch still pending past its look's deadline is shown as timed out, everywhere.
        own = [deadlines.as_seen(s, now, budget) for s in by_link.get(link.pk, [])]
        kept = {
            snapshot.pk: visible.items_of(snapshot) if snapshot.pk in read_pks else ([], 0)
            for snapshot in own
        }
        _heading_parts(link, own, kept, parts, now, budget)
        # A heading the source's interface cannot carry is said at the heading (and below), but
        # does not make the whole source read as unavailable.
        uncarried = [s for s in own if _not_carried(s)]
        summed = [s for s in own if s not in uncarried] or own
        states = [(state_of(s, now), s) for s in summed] or [(SourceState.LOADING, None)]
        worst_state, worst = min(states, key=lambda pair: order.index(pair[0]))
        fetched = [s.fetched_at for s in own if s.fetched_at]
        failed = [s for s in summed if s.status == Snapshot.Status.FAILED]
        # Timed out is said as such only when that is the whole of what went wrong.
        other_failures = any(not deadlines.is_timed_out(s.reason) for s in failed)
        sources.append(
            SourceView(
                source=link.source,
                state=worst_state,
                reason=_failures(failed, len(own), labels) if failed else _reason(worst),
                fetched_at=min(fetched) if fetched else None,
                kept_earlier=any(s.fetched_at for s in failed),
                words=None if other_failures else deadlines.words_for(worst, now, budget),
                deadline_at=min(
                    (s.deadline_at for s in own if s.deadline_at and state_of(s, now).asking),
                    default=None,
                ),
                withheld=[
                    f"{labels[s.category]}: {s.withheld_reason}" for s in own if s.withheld_reason
                ]
                + [f"{labels[s.category]}: {NOT_CARRIED}" for s in uncarried if summed is not own],
            )
        )
        for snapshot in own:
            latest = updated.get(snapshot.category, snapshot.updated_at)
            updated[snapshot.category] = max(latest, snapshot.updated_at)
            if snapshot.status == Snapshot.Status.FAILED:
                unavailable[snapshot.category].append(said_by(link.source, snapshot.reason))
            if snapshot.withheld_reason:
                note = said_by(link.source, snapshot.withheld_reason)
                withheld_notes[snapshot.category].append(note)
                withheld[snapshot.category] += snapshot.withheld_count
            shared = {
                "source_name": link.source.name,
                "source_ods_code": link.source.ods_code,
                "fetched_at": snapshot.fetched_at,
                "stale": is_stale(snapshot, now),
            }
            items, hidden = kept[snapshot.pk]
            sensitive[snapshot.category] += hidden
            if patient.restricted:  # a snapshot saved while the label was being set
                items = without_restricted_details_in_items(items, restricted=True)
            items_by_category[snapshot.category] += [{**item, **shared} for item in items]
    categories = [
        CategoryView(
            category=category,
            label=labels[category],
            items=sorted(
                items_by_category[category], key=lambda i: i.get("date") or "", reverse=True
            ),
            unavailable=unavailable[category],
            withheld_notes=withheld_notes[category],
            withheld=withheld[category],
            sources=parts[category],
            sensitive=sensitive[category],
            updated_at=updated.get(category),
            loaded=items_of is None or category in items_of,
        )
        for category in decision.categories
    ]
    return RecordView(
        patient=patient,
        decision=decision,
        sources=sources,
        categories=categories,
        read_at=now,
    )


def said_by(source: SourceSystem, words: str) -> str:
    """What a source did, in a sentence: "Thameside Hospital sent ...", or "<name>: <reason>"."""
    return f"{source.name} {words}" if words.startswith("sent ") else f"{source.name}: {words}"


def _items(snapshot: Snapshot) -> list[dict]:
    """A snapshot's items, read whole or (for a read of some headings) in `read_items`."""
    if "items" in snapshot.get_deferred_fields():
        return snapshot.read_items or []
    return snapshot.items


class _SensitiveFilter:
    """Splits each snapshot's items into those this look shows and a count of the sensitive ones
    it may not; the code sets are read once per look, and only if there is anything to judge.
    A sensitive item shown under emergency access carries the warning."""

    def __init__(self, decision: Decision, snapshots: list[Snapshot]) -> None:
        self.decision = decision
        self.emergency = decision.basis == AccessBasis.BREAK_GLASS
        self.codes = sensitive_codes() if any(_items(s) for s in snapshots) else None

    def items_of(self, snapshot: Snapshot) -> tuple[list[dict], int]:
        items = _items(snapshot)
        if self.codes is None:
            return list(items), 0
        shown, hidden = [], 0
        for item in items:
            found = sensitivities_of(item, self.codes)
            if not found:
                shown.append(item)
            elif found <= self.decision.sensitivities:
                marks = {"sensitive": sorted(str(kind) for kind in found)}
                if self.emergency:
                    marks["sensitive_warning"] = SENSITIVE_WARNING
                shown.append({**item, **marks})
            else:
                hidden += 1
        return shown, hidden


def _heading_parts(
    link: Link,
    own: list[Snapshot],
    kept: dict[int, tuple[list[dict], int]],
    parts: dict[str, list[HeadingSource]],
    now,
    budget: float,
) -> None:
    """This source's part in each heading of the look; a heading it has no snapshot of yet is
    loading (it has not been asked, or the ask is on its way)."""
    by_category = {snapshot.category: snapshot for snapshot in own}
    for category, heading in parts.items():
        snapshot = by_category.get(category)
        if snapshot is None:
            heading.append(
                HeadingSource(
                    source=link.source,
                    state=SourceState.LOADING,
                    words=deadlines.words_for(None, now, budget),
                )
            )
            continue
        heading.append(
            HeadingSource(
                source=link.source,
                state=state_of(snapshot, now),
                words=deadlines.words_for(snapshot, now, budget),
                shown=len(kept[snapshot.pk][0]),
                withheld=snapshot.withheld_count,
                withheld_reason=snapshot.withheld_reason,
                reason=snapshot.reason if snapshot.status == Snapshot.Status.FAILED else "",
                sensitive=kept[snapshot.pk][1],
            )
        )


def _reason(snapshot: Snapshot | None) -> str:
    return snapshot.reason if snapshot is not None else ""


def _failures(failed: list[Snapshot], headings: int, labels: dict[str, str]) -> str:
    """Why a source's headings failed, naming the headings unless one reason covers them all."""
    by_reason: dict[str, list[str]] = {}
    for snapshot in failed:
        by_reason.setdefault(snapshot.reason, []).append(labels[snapshot.category])
    if len(by_reason) == 1 and len(failed) == headings:
        return failed[0].reason
    return "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())
