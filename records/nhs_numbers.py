"""NHS numbers: parse what a person or a source typed, check the modulus-11 digit, format 3-3-4.

A thin layer over the nhs-number package, so that every part of the record says the same thing
about a bad number.
"""

import re

import nhs_number
from django.core.exceptions import ValidationError

_SEPARATORS = re.compile(r"[\s-]+")


def normalise_nhs_number(value: str) -> str:
    """Return the ten digits of `value` or raise ValidationError saying what is wrong with it."""
    if not isinstance(value, str):
        raise ValidationError("An NHS number must be text.", code="nhs_number_type")
    digits = _SEPARATORS.sub("", value.strip())
    if not digits:
        raise ValidationError("Enter an NHS number.", code="nhs_number_empty")
    if not digits.isdigit():
        raise ValidationError("An NHS number contains only digits.", code="nhs_number_characters")
    if len(digits) != 10:
        raise ValidationError(
            "An NHS number has 10 digits; this has %(count)d.",
            code="nhs_number_length",
            params={"count": len(digits)},
        )
    if not nhs_number.is_valid(digits):
        raise ValidationError(
            "%(number)s is not a valid NHS number: the check digit is wrong. "
            "Check it has been copied correctly.",
            code="nhs_number_check_digit",
            params={"number": format_nhs_number(digits)},
        )
    return digits


def validate_nhs_number(value: str) -> None:
    """Model field validator: stored values are exactly ten digits with a good check digit."""
    if normalise_nhs_number(value) != value:
        raise ValidationError("Store NHS numbers as ten digits.", code="nhs_number_format")


def is_valid_nhs_number(value: str) -> bool:
    try:
        normalise_nhs_number(value)
    except ValidationError:
        return False
    return True


def format_nhs_number(digits: str) -> str:
    """Format ten digits the way people read them: 999 000 0018."""
    if len(digits) != 10:
        return digits
    return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
