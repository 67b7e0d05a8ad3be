"""Days as the privacy officers' pages take them: the date formats people type, the London
day's bounds in the trail, and a date field (day, month and year) that refuses a date the trail
could not hold."""

import datetime

from django.utils import timezone

from records.form_fields import DayMonthYearField

DATE_FORMATS = ["%d/%m/%Y", "%d-%m-%Y", "%d %m %Y", "%Y-%m-%d"]


def start_of(day: datetime.date) -> datetime.datetime:
    """The first moment of this London day."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def after(day: datetime.date) -> datetime.datetime:
    """The first moment after this London day (a period's end, excluded)."""
    return start_of(day + datetime.timedelta(days=1))


class TrailDateField(DayMonthYearField):
    """A day typed as day, month and year, between 1900 and 2099 (records.form_fields: past
    9999 it could not even be turned into a bound). From an address or a link, one parameter
    as people type it (3/12/2026, 2026-12-03, ...) is taken too."""

    def __init__(self, *, what: str, **kwargs) -> None:
        super().__init__(what=what, typed_formats=DATE_FORMATS, **kwargs)
