"""Free text as every access service stores it: one rule (records.limits), raised as the error
of the service that was asked."""

from django.core.exceptions import ValidationError

from records.limits import free_text


def checked_text(value: str, what: str, error: type[Exception]) -> str:
    """`value` stripped, not too long and storable, or `error` saying what is wrong."""
    try:
        return free_text(value, what=what)
    except ValidationError as exc:
        raise error(exc.messages[0]) from exc
