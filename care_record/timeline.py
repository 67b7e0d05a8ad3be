"""The record's timeline: attendances and admissions, appointments, referrals and letters from
every source together, newest first, so that a reader sees the story of someone's care in order.

Built from the headings a look already read (no extra query, no extra access event); only the
headings the reader may see are in it, and an item the source says is not true keeps its mark.
"""

import dataclasses
import datetime
import re
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from records.categories import Category

LONDON = ZoneInfo("Europe/London")
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?$")

# The headings whose items are events in time; the others (medicines, problems...) are states.
TIMELINE_CATEGORIES = (
    Category.ENCOUNTERS,
    Category.APPOINTMENTS,
    Category.REFERRALS,
    Category.DOCUMENTS,
)
# What the timeline holds, in a sentence, heading by heading.
HOLDS_WORDS = {
    Category.ENCOUNTERS: "attendances and admissions",
    Category.APPOINTMENTS: "appointments",
    Category.REFERRALS: "referrals",
    Category.DOCUMENTS: "letters",
}
KIND_WORDS = {
    Category.ENCOUNTERS: "Attendance or admission",
    Category.APPOINTMENTS: "Appointment",
    Category.REFERRALS: "Referral",
    Category.DOCUMENTS: "Letter or document",
}


@dataclass
class TimelineEntry:
    kind: str  # the heading's words for what this is
    category: str
    item: dict


@dataclass
class Timeline:
    entries: list[TimelineEntry]
    waiting: list[str]  # sources still asked for one of the timeline's headings
    notes: list[str]  # what failed or was withheld in one of them, per source
    holds: str = ""  # what it is made of, for this reader: "appointments, referrals and letters"
    # Its headings this role may not see (said, so that an empty timeline is not taken as all).
    not_shown: list[str] = dataclasses.field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.waiting and not self.notes

    @property
    def categories(self) -> tuple[str, ...]:
        """The headings it is made of: a live update redraws it when one of them changed."""
        return tuple(str(category) for category in TIMELINE_CATEGORIES)


def date_sort_key(value: Any) -> str:
    """A FHIR date, dateTime or instant as digits that sort in time order as text ("2026",
    "202601", "20260115", "202601151440" in London time), whatever zone the source wrote it
    in; empty when there is no date to place. Used for the timeline and the tables' sorting."""
    if not isinstance(value, str) or not value.strip():
        return ""
    text = value.strip()
    plain = _PARTIAL_DATE.match(text)
    if plain:
        return "".join(part for part in plain.groups() if part)
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LONDON)  # as the pages read a zoneless time
    return f"{moment.astimezone(LONDON):%Y%m%d%H%M%S}"


def _when(entry: TimelineEntry) -> str:
    return date_sort_key(entry.item.get("date"))


def timeline_of(record) -> Timeline:
    """The timeline of a RecordView: its event headings' items, newest first; undated last."""
    views = [view for view in record.categories if view.category in TIMELINE_CATEGORIES]
    entries = [
        TimelineEntry(kind=KIND_WORDS[Category(view.category)], category=view.category, item=item)
        for view in views
        for item in view.items
    ]
    dated = sorted((e for e in entries if _when(e)), key=_when, reverse=True)
    undated = [e for e in entries if not _when(e)]
    waiting = sorted({name for view in views for name in view.waiting})
    # A source that cannot send two of these headings says so once, not once per heading.
    notes = list(dict.fromkeys(note for view in views for note in view.notes))
    holds = [HOLDS_WORDS[Category(view.category)] for view in views]
    labels = dict(Category.choices)
    shown = {view.category for view in views}
    not_shown = [labels[c].lower() for c in TIMELINE_CATEGORIES if c not in shown]
    return Timeline(
        entries=dated + undated,
        waiting=waiting,
        notes=notes,
        holds=", ".join(holds[:-1]) + f" and {holds[-1]}" if len(holds) > 1 else "".join(holds),
        not_shown=not_shown,
    )
