"""Which headings one answer of the record page draws: the summary's always, and the heading open
(`?heading=`); the others are fetched by the page when they are opened, as part of the same look.

Reading a heading's items is most of a look's cost (decoding, the sensitivity walk, the table),
so an answer reads only the items it draws; every heading's state is read, so the navigation
and the sources' section are whole.
"""

from care_record.summary import SECTIONS
from care_record.timeline import TIMELINE_CATEGORIES
from records.categories import Category

TIMELINE = "timeline"
EVERY_HEADING = "all"  # the whole record on one page: for print, and without JavaScript
SUMMARY_CATEGORIES = frozenset(str(category) for _, _, category, _, _ in SECTIONS)


def chosen_heading(asked: str, categories: list[str]) -> str:
    """The heading a request opens: one the reader may see, the timeline or every heading;
    anything else (nothing asked, a heading of another role) opens the timeline, first in the
    navigation."""
    if asked in (TIMELINE, EVERY_HEADING) or asked in categories:
        return asked
    return TIMELINE


def categories_of(heading: str) -> frozenset[str] | None:
    """The headings whose items this heading shows; None for every heading."""
    if heading == EVERY_HEADING:
        return None
    if heading == TIMELINE:
        return frozenset(str(category) for category in TIMELINE_CATEGORIES)
    return frozenset({heading}) if heading in Category.values else frozenset()


def items_to_read(heading: str) -> frozenset[str] | None:
    """What an answer of the page with this heading open reads the items of: the summary's
    headings and the open one's (None: every heading)."""
    shown = categories_of(heading)
    return None if shown is None else SUMMARY_CATEGORIES | shown
