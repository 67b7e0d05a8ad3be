"""The limits on what anyone may send the record, one definition of each: the length of free text
and of a typed NHS number, the characters a database can store, and ids within 64 bits.

Forms, API serializers, the CSV import and the services all use these, so that a value refused
on one path is refused on every other with the same words.
"""

import re
from collections.abc import Iterable

from django.core.exceptions import EmptyResultSet, FullResultSet, ValidationError
from django.db.models import ForeignObject, IntegerField, lookups
from django.db.models.fields import related_lookups

# A reason, an objection's notes, an emergency access's explanation, a review's note.
FREE_TEXT_MAX_LENGTH = 2000
# Ten digits with the spaces or dashes people type between them.
NHS_NUMBER_INPUT_MAX_LENGTH = 20

# PostgreSQL's text cannot hold NUL; UTF-8 (so neither database) cannot encode a lone surrogate.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_character(value: str) -> str | None:
    """The first character in `value` that no database here can store, as U+XXXX, or None."""
    found = _UNSTORABLE.search(value)
    return f"U+{ord(found.group()):04X}" if found else None


def free_text(value: str, *, what: str, max_length: int = FREE_TEXT_MAX_LENGTH) -> str:
    """`value` stripped, or ValidationError saying what is wrong (too long, unstorable); `what`
    names it in a sentence ("the reason")."""
    character = unstorable_character(value)
    if character is not None:
        raise ValidationError(
            "There is a character in %(what)s that cannot be stored (%(character)s); remove it.",
            code="unstorable_character",
            params={"what": what, "character": character},
        )
    value = value.strip()
    if len(value) > max_length:
        raise ValidationError(
            "%(what)s may have at most %(max)s characters; this has %(count)s.",
            code="too_long",
            params={
                "what": what[:1].upper() + what[1:],
                "max": f"{max_length:,}",
                "count": f"{len(value):,}",
            },
        )
    return value


class _RangeChecked:
    """An integer lookup whose value is beyond its column matches nothing (or everything, for
    < and <=), as Django already does for integer fields. Django leaves out foreign keys and
    `in`, where SQLite's driver then fails on any value of 2^63 or more (OverflowError)."""

    def _target(self):
        field = self.lhs.output_field
        return field.target_field if isinstance(field, ForeignObject) else field

    def _range(self, connection) -> tuple[int | None, int | None]:
        target = self._target()
        if not isinstance(target, IntegerField):
            return None, None
        return connection.ops.integer_field_range(target.get_internal_type())


class _RelatedInteger(_RangeChecked):
    underflow_exception = EmptyResultSet
    overflow_exception = EmptyResultSet

    def process_rhs(self, compiler, connection):
        if isinstance(self.rhs, int) and not isinstance(self.rhs, bool):
            low, high = self._range(connection)
            if low is not None and self.rhs < low:
                raise self.underflow_exception
            if high is not None and self.rhs > high:
                raise self.overflow_exception
        return super().process_rhs(compiler, connection)


@ForeignObject.register_lookup
class RelatedExact(_RelatedInteger, related_lookups.RelatedExact):
    pass


@ForeignObject.register_lookup
class RelatedGreaterThan(_RelatedInteger, related_lookups.RelatedGreaterThan):
    underflow_exception = FullResultSet


@ForeignObject.register_lookup
class RelatedGreaterThanOrEqual(_RelatedInteger, related_lookups.RelatedGreaterThanOrEqual):
    underflow_exception = FullResultSet


@ForeignObject.register_lookup
class RelatedLessThan(_RelatedInteger, related_lookups.RelatedLessThan):
    overflow_exception = FullResultSet


@ForeignObject.register_lookup
class RelatedLessThanOrEqual(_RelatedInteger, related_lookups.RelatedLessThanOrEqual):
    overflow_exception = FullResultSet


class _InRange(_RangeChecked):
    """`in`: values beyond the column are left out (they name no row); none left, no rows."""

    def process_rhs(self, compiler, connection):
        if self.rhs_is_direct_value() and isinstance(self.rhs, Iterable):
            low, high = self._range(connection)
            if low is not None or high is not None:
                self.rhs = [value for value in self.rhs if _within(value, low, high)]
                if not self.rhs:
                    raise EmptyResultSet
        return super().process_rhs(compiler, connection)


def _within(value, low: int | None, high: int | None) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return True
    return (low is None or value >= low) and (high is None or value <= high)


@IntegerField.register_lookup
class IntegerIn(_InRange, lookups.In):
    pass


@ForeignObject.register_lookup
class RelatedIn(_InRange, related_lookups.RelatedIn):
    pass
