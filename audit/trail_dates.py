"""Days as the privacy officers' pages take them: the date formats people type, the London
day's bounds in the trail, and a date field that refuses a date the trail could not hold."""

import datetime

from django import forms
from django.utils import timezone

DATE_FORMATS = ["%d/%m/%Y", "%d-%m-%Y", "%d %m %Y", "%Y-%m-%d"]
# A date past this is a typing slip; past 9999 it could not even be turned into a bound.
LAST_DAY = datetime.date(2099, 12, 31)


def start_of(day: datetime.date) -> datetime.datetime:
    """The first moment of this London day."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def after(day: datetime.date) -> datetime.datetime:
    """The first moment after this London day (a period's end, excluded)."""
    return start_of(day + datetime.timedelta(days=1))


class TrailDateField(forms.DateField):
    """A day typed as people type it (3/12/2026, 2026-12-03, ...), before 2100."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("input_formats", DATE_FORMATS)
        super().__init__(**kwargs)

    def validate(self, value) -> None:
        super().validate(value)
        if value and not datetime.date(1900, 1, 1) <= value <= LAST_DAY:
            raise forms.ValidationError("Enter a date between 1900 and 2099.", code="out_of_range")
