"""The summary at the top of a record: what someone treating or supporting the person needs first.

Allergies and reactions, current medicines, active problems, recent attendances, key flags and
care plan contacts, picked from the headings a look already read (no extra query, no extra
access event). Each section says when it may be incomplete because a source has not answered.
"""

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

from records.categories import Category

# Statuses that mean "no longer true": anything else (including no status) stays in the summary,
# because leaving out a current allergy or medicine is worse than showing an old one.
ENDED = frozenset(
    {
        "inactive",
        "resolved",
        "remission",
        "refuted",
        "entered-in-error",
        "completed",
        "stopped",
        "cancelled",
        "revoked",
        "not-taken",
        "finished",
    }
)
RECENT_ATTENDANCES = datetime.timedelta(days=365)
MOST_ATTENDANCES = 5


@dataclass
class SummarySection:
    key: str
    title: str
    category: str
    items: list[dict] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)  # sources of this heading still asked
    withheld: list[str] = field(default_factory=list)  # per source: what failed or is not shown
    empty_text: str = "None recorded by the sources that answered."


# (key, title, category, which items, what to say when there are none)
SECTIONS = (
    (
        "allergies",
        "Allergies and reactions",
        Category.ALLERGIES,
        "current",
        "No allergies recorded.",
    ),
    ("medicines", "Current medicines", Category.MEDICINES, "current", "No current medicines."),
    ("problems", "Active problems", Category.PROBLEMS, "current", "No active problems recorded."),
    ("attendances", "Recent attendances", Category.ENCOUNTERS, "recent", "None in the last year."),
    ("flags", "Key flags", Category.FLAGS, "current", "No flags."),
    ("care_plans", "Care plan contacts", Category.CARE_PLANS, "current", "No current care plans."),
)


def is_current(item: dict) -> bool:
    return item.get("status", "").lower() not in ENDED


def _once_each(items: list[dict]) -> list[dict]:
    """The same allergy or medicine from several sources, once, naming every source that holds
    it (in `also_from`, one item per other source); items are newest first, so the newest
    version is the one shown."""
    kept: dict[tuple[str, str], dict] = {}
    for item in items:
        key = (
            (item.get("code_system", ""), item.get("code", ""))
            if item.get("code")
            else (
                "title",
                item.get("title", "").strip().lower(),
            )
        )
        if key in kept:
            first = kept[key]
            named = {first.get("source_name")} | {o.get("source_name") for o in first["also_from"]}
            if item.get("source_name") not in named:
                first["also_from"].append(item)
            if item.get("criticality") == "high":
                first["criticality"] = "high"  # the most severe report wins
        else:
            kept[key] = {**item, "also_from": []}
    return list(kept.values())


def summary_of(record, now: datetime.datetime | None = None) -> list[SummarySection]:
    """The summary sections of a RecordView, for the headings its decision allows."""
    now = now or timezone.now()
    by_category = {view.category: view.items for view in record.categories}
    # Each section speaks only of the sources of its own heading: failed, withheld or waiting.
    views = {view.category: view for view in record.categories}
    since = (now - RECENT_ATTENDANCES).date().isoformat()
    sections = []
    for key, title, category, which, empty_text in SECTIONS:
        if category not in by_category:
            continue  # not a heading this role may see
        items = [item for item in by_category[category] if is_current(item)]
        if which == "recent":
            items = [item for item in items if (item.get("date") or "")[:10] >= since]
            items = items[:MOST_ATTENDANCES]
        else:
            items = _once_each(items)
        if key == "allergies":
            items.sort(key=lambda item: item.get("criticality") != "high")  # high risk first
        sections.append(
            SummarySection(
                key=key,
                title=title,
                category=category,
                items=items,
                incomplete=views[category].waiting,
                withheld=views[category].notes,
                empty_text=empty_text,
            )
        )
    return sections
