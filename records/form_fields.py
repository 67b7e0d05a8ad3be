"""What every form of the portal shares: errors in plain English that name the field (never
Django's "This field is required."), and a date typed as day, month and year.

The date is one field (DayMonthYearField) with one widget (DayMonthYearInput), shown with the
NHS.UK date-input component by templates/macros/forms.html; its errors follow the NHS.UK
pattern ("Enter the date the relationship ends", "... must include a month", "... must be a
real date") and say which of the three boxes is wrong.
"""

import datetime
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.utils import pretty_name

from records.limits import FREE_TEXT_MAX_LENGTH, free_text

PARTS = ("day", "month", "year")
# A date outside these is a typing slip (and past 9999 could not be held at all).
FIRST_DAY = datetime.date(1900, 1, 1)
LAST_DAY = datetime.date(2099, 12, 31)
# Longer than any day, month or year: what is typed past it is junk, not a date.
_PART_MAX = 4


def _sentence(words: str) -> str:
    return words[:1].upper() + words[1:]


class DayMonthYearInput(forms.MultiWidget):
    """Three boxes, named <name>_day, <name>_month and <name>_year.

    An address or a link may instead carry the whole date in one parameter (`since=2026-03-01`,
    `birth_date=15/01/1954`): it is taken when none of the three boxes was sent.
    """

    def __init__(self, attrs: dict | None = None) -> None:
        boxes = {part: forms.TextInput(attrs={"inputmode": "numeric"}) for part in PARTS}
        super().__init__(boxes, attrs)

    def decompress(self, value: Any) -> list[str | None]:
        if isinstance(value, datetime.date):
            return [str(value.day), str(value.month), str(value.year)]
        return [None, None, None]

    def value_from_datadict(self, data, files, name: str) -> Any:
        parts = super().value_from_datadict(data, files, name)
        if all(part is None for part in parts) and name in data:
            return data.get(name)
        return parts

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        return name not in data and super().value_omitted_from_data(data, files, name)


class DayMonthYearField(forms.Field):
    """A date typed into three boxes. `what` names it in a sentence ("the date the relationship
    ends"); a date outside `first`..`last` is refused as a typing slip.

    Errors carry the boxes they are about (`params["parts"]`), so that the page marks those and
    the error summary links to the first of them.
    """

    widget = DayMonthYearInput

    def __init__(
        self,
        *,
        what: str,
        typed_formats: Sequence[str] = ("%Y-%m-%d",),
        first: datetime.date = FIRST_DAY,
        last: datetime.date = LAST_DAY,
        **kwargs: Any,
    ) -> None:
        self.what = what
        self.typed_formats = tuple(typed_formats)
        self.first, self.last = first, last
        messages = {"required": f"Enter {what}"}
        messages.update(kwargs.pop("error_messages", None) or {})
        super().__init__(error_messages=messages, **kwargs)

    def _error(self, problem: str, code: str, parts: Sequence[str] = PARTS) -> ValidationError:
        return ValidationError(
            f"{_sentence(self.what)} {problem}", code=code, params={"parts": list(parts)}
        )

    def to_python(self, value: Any) -> datetime.date | None:
        if isinstance(value, datetime.date):
            return value
        if isinstance(value, str):
            return self._from_one_text(value.strip())
        parts = [str(part or "").strip() for part in (value or [None] * 3)][:3]
        if not any(parts):
            return None
        missing = [name for name, part in zip(PARTS, parts, strict=True) if not part]
        if missing:
            problem = f"must include a {' and '.join(missing)}"
            raise self._error(problem, "incomplete", missing)
        numbers = [
            int(part) if part.isascii() and part.isdigit() and len(part) <= _PART_MAX else None
            for part in parts
        ]
        day, month, year = numbers
        wrong = [
            name
            for name, bad in zip(
                PARTS,
                [
                    day is None or not 1 <= day <= 31,
                    month is None or not 1 <= month <= 12,
                    year is None or len(parts[2]) != 4,
                ],
                strict=True,
            )
            if bad
        ]
        if wrong:
            raise self._error("must be a real date", "invalid", wrong)
        try:
            return datetime.date(year, month, day)
        except ValueError:
            raise self._error("must be a real date", "invalid") from None

    def _from_one_text(self, text: str) -> datetime.date | None:
        if not text:
            return None
        for format_ in self.typed_formats:
            try:
                return datetime.datetime.strptime(text, format_).date()
            except ValueError:
                continue
        raise self._error("must be a real date", "invalid")

    def validate(self, value: datetime.date | None) -> None:
        super().validate(value)
        if value and not self.first <= value <= self.last:
            raise self._error(
                f"must be between {self.first.year} and {self.last.year}", "out_of_range"
            )

    def parts_shown(self, value: Any) -> list[str]:
        """What goes in the three boxes for a bound or initial value: as typed, or the date."""
        if isinstance(value, list | tuple):
            return [str(part or "") for part in value][:3] + [""] * (3 - len(value[:3]))
        if isinstance(value, str):
            try:
                value = self._from_one_text(value.strip())
            except ValidationError:
                return ["", "", ""]
        return [part or "" for part in self.widget.decompress(value)]


class FreeTextField(forms.CharField):
    """A reason, a note: refused when too long or unstorable in the same words as the services
    and the CSV import refuse it (records.limits.free_text); `what` names it ("the reason")."""

    def __init__(self, *, what: str, max_length: int = FREE_TEXT_MAX_LENGTH, **kwargs: Any):
        self.what = what
        messages = {"required": f"Enter {what}"}
        messages.update(kwargs.pop("error_messages", None) or {})
        super().__init__(error_messages=messages, **kwargs)
        # The limit, without CharField's own check (and words): free_text checks it.
        self.max_length = max_length

    def clean(self, value: Any) -> str:
        text = super().clean(value)
        return free_text(text, what=self.what, max_length=self.max_length) if text else text


def parts_in_error(bound_field: forms.BoundField) -> list[str]:
    """Which of a date's boxes its first error is about (none for other fields)."""
    errors = bound_field.errors.as_data() if bound_field.errors else []
    if not errors or not isinstance(bound_field.field, DayMonthYearField):
        return []
    return list((errors[0].params or {}).get("parts", PARTS))


# Django's own words, and the plain English that replaces them: {label} is the field's label as
# it reads in a sentence. A message a form gives itself is kept.
_PLAIN = {
    "required": "Enter {label}",
    "max_length": "{Label} must be %(limit_value)s characters or fewer",
    "min_length": "{Label} must be %(limit_value)s characters or more",
    "invalid_choice": "Choose {label} from the list",
    "invalid": "Enter {label} in the right form",
    "invalid_pk_value": "Choose {label} from the list",
    "max_value": "{Label} must be %(limit_value)s or less",
    "min_value": "{Label} must be %(limit_value)s or more",
}
_CHOOSE = (forms.ChoiceField, forms.ModelChoiceField, forms.BooleanField)


def _django_default(field: forms.Field, code: str) -> str | None:
    for cls in type(field).__mro__:
        found = getattr(cls, "default_error_messages", {}).get(code)
        if found is not None:
            return str(found)
    return None


def speak_plainly(form: forms.BaseForm) -> None:
    """Replace every message of the form's fields that is still Django's own with plain English
    that names the field ("Enter the reason", "Choose a team from the list")."""
    for name, field in form.fields.items():
        label = str(field.label or pretty_name(name))
        words = label[:1].lower() + label[1:]
        for code, plain in _PLAIN.items():
            current = field.error_messages.get(code)
            if current is None or str(current) != _django_default(field, code):
                continue
            if code == "required" and isinstance(field, _CHOOSE):
                plain = "Choose {label}"
            field.error_messages[code] = plain.replace("{label}", words).replace(
                "{Label}", _sentence(label)
            )


class PlainForm(forms.Form):
    """A form whose every error is in plain English: a message the form's fields give is kept,
    Django's own is replaced (speak_plainly)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        speak_plainly(self)
