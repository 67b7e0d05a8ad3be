"""read_record: the single choke point for every read of patient data, web and API alike.

Authorise (access.policy), then, in one transaction, return the cached snapshots the decision
allows and ask the worker to refresh what is missing or stale. (Issue 5 writes the access event in
that same transaction: if it cannot be written, nothing is shown.)
"""

import datetime
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from access.exceptions import AccessDenied
from access.policy import DIRECT_CARE, Actor, Decision, decide
from records.categories import Category
from records.fetching import is_stale, request_refresh, state_of
from records.models import Link, Patient, Snapshot, SourceSystem

SENSITIVE_SOURCE_KINDS = (SourceSystem.Kind.MENTAL_HEALTH,)


@dataclass
class SourceState:
    """One linked source's state for this look, worst first: what a reader must know."""

    source: SourceSystem
    state: str  # loading, refreshing, up to date, stale, unavailable
    reason: str = ""
    fetched_at: datetime.datetime | None = None


@dataclass
class CategoryView:
    category: str
    label: str
    items: list[dict] = field(default_factory=list)  # each with its source and age


@dataclass
class RecordView:
    patient: Patient
    decision: Decision
    sources: list[SourceState]
    categories: list[CategoryView]

    @property
    def withheld_labels(self) -> list[str]:
        labels = dict(Category.choices)
        return [labels[c].lower() for c in self.decision.denied_categories]

    @property
    def loading(self) -> bool:
        return any(s.state in ("loading", "refreshing") for s in self.sources)


def read_record(
    *,
    actor: Actor,
    patient: Patient,
    channel: str,
    categories: list[str] | tuple[str, ...] | None = None,
    purpose: str = DIRECT_CARE,
    refresh: bool = True,
    force_refresh: bool = False,
) -> RecordView:
    """What this actor may see of this patient's record now; raises AccessDenied otherwise."""
    decision = decide(actor, patient, categories, purpose)
    if not decision.allowed:
        raise AccessDenied(decision.why_not)
    excluded = () if decision.sees_sensitive_sources else SENSITIVE_SOURCE_KINDS
    with transaction.atomic():
        if refresh:
            request_refresh(
                patient=patient,
                categories=decision.categories,
                exclude_kinds=excluded,
                force=force_refresh,
            )
        links = list(
            Link.objects.filter(patient=patient).select_related("source").order_by("source__name")
        )
        snapshots = list(
            Snapshot.objects.filter(
                link__in=[link for link in links if link.source.kind not in excluded],
                category__in=decision.categories,
            )
        )
    return _assemble(patient, decision, links, snapshots, excluded)


def _assemble(patient, decision, links, snapshots, excluded) -> RecordView:
    now = timezone.now()
    by_link: dict[int, list[Snapshot]] = {}
    for snapshot in snapshots:
        by_link.setdefault(snapshot.link_id, []).append(snapshot)
    order = ["unavailable", "loading", "refreshing", "stale", "up to date"]
    sources, items_by_category = [], {c: [] for c in decision.categories}
    shown = [link for link in links if link.source.kind not in excluded]
    for link in shown:
        own = by_link.get(link.pk, [])
        states = [(state_of(s, now), s) for s in own] or [("loading", None)]
        worst_state, worst = min(states, key=lambda pair: order.index(pair[0]))
        fetched = [s.fetched_at for s in own if s.fetched_at]
        sources.append(
            SourceState(
                source=link.source,
                state=worst_state,
                reason=worst.reason if worst is not None else "",
                fetched_at=min(fetched) if fetched else None,
            )
        )
        for snapshot in own:
            for item in snapshot.items:
                items_by_category[snapshot.category].append(
                    {
                        **item,
                        "source_name": link.source.name,
                        "source_ods_code": link.source.ods_code,
                        "fetched_at": snapshot.fetched_at,
                        "stale": is_stale(snapshot, now),
                    }
                )
    labels = dict(Category.choices)
    categories = [
        CategoryView(
            category=category,
            label=labels[category],
            items=sorted(
                items_by_category[category], key=lambda i: i.get("date") or "", reverse=True
            ),
        )
        for category in decision.categories
    ]
    return RecordView(
        patient=patient,
        decision=decision,
        sources=sources,
        categories=categories,
    )
