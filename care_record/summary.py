"""The summary at the top of a record: what someone treating or supporting the person needs first.

Allergies and reactions, current medicines, active problems, recent attendances, key flags and
care plan contacts, picked from the headings a look already read (no extra query, no extra
access event). Each section says when it may be incomplete: only when a source that may hold that
heading has not answered it, failed it, or withheld some of it. Nothing the source says is not
true (entered in error, refuted) is ever in the summary; the heading's table shows it struck out.
"""

import datetime
from dataclasses import dataclass, field

from django.utils import timezone

from records.categories import Category
from records.sources.terminology import names_one_thing

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
# Encounters that did not take place are not attendances, whatever their date.
NOT_ATTENDED = frozenset({"cancelled", "entered-in-error", "planned"})
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


def _status_code(item: dict) -> str:
    # Items cached before status codes were kept carry only their status.
    return (item.get("status_code") or item.get("status") or "").strip().lower()


def is_current(item: dict) -> bool:
    return not item.get("retracted") and _status_code(item) not in ENDED


def attended(item: dict) -> bool:
    """An attendance that took place (finished, in progress, on leave...), by the source's word."""
    return not item.get("retracted") and _status_code(item) not in NOT_ATTENDED


def _same_thing_key(item: dict) -> tuple[str, str, str] | None:
    """What makes two items the same allergy or medicine: the same code in the same system, and
    the same words; None when the code does not name one thing (none, degraded, generic), so
    the item is shown however many others look like it: when in doubt, show both."""
    system, code = item.get("code_system", ""), item.get("code", "")
    if not names_one_thing(system, code):
        return None
    return system, code, " ".join(item.get("title", "").lower().split())


def _once_each(items: list[dict]) -> list[dict]:
    """The same allergy or medicine from several sources, once, naming every source that holds
    it (in `also_from`, one item per other source); items are newest first, so the newest
    version is the one shown."""
    kept: dict[tuple[str, str, str], dict] = {}
    shown = []
    for item in items:
        key = _same_thing_key(item)
        if key is not None and key in kept:
            first = kept[key]
            named = {first.get("source_name")} | {o.get("source_name") for o in first["also_from"]}
            if item.get("source_name") not in named:
                first["also_from"].append(item)
            if item.get("criticality") == "high":
                first["criticality"] = "high"  # the most severe report wins
            continue
        entry = {**item, "also_from": []}
        if key is not None:
            kept[key] = entry
        shown.append(entry)
    return shown


def summary_of(record, now: datetime.datetime | None = None) -> list[SummarySection]:
    """The summary sections of a RecordView, for the headings its decision allows."""
    now = now or timezone.now()
    # Each section speaks only of the sources of its own heading: failed, withheld or waiting.
    views = {view.category: view for view in record.categories}
    since = (now - RECENT_ATTENDANCES).date().isoformat()
    today = timezone.localtime(now).date().isoformat()
    sections = []
    for key, title, category, which, empty_text in SECTIONS:
        view = views.get(category)
        if view is None:
            continue  # not a heading this role may see
        if which == "recent":
            # By date, whatever the status: a finished attendance this year is a recent one.
            items = [
                item
                for item in view.items
                if attended(item) and since <= (item.get("date") or "")[:10] <= today
            ][:MOST_ATTENDANCES]
        else:
            items = _once_each([item for item in view.items if is_current(item)])
        if key == "allergies":
            items.sort(key=lambda item: item.get("criticality") != "high")  # high risk first
        sections.append(
            SummarySection(
                key=key,
                title=title,
                category=category,
                items=items,
                incomplete=view.waiting,
                withheld=view.notes,
                empty_text=empty_text,
            )
        )
    return sections
