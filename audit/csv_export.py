"""The access report's CSV is for analysts: one row per look (its live updates folded in), with
the codes and ids beside the plain words, each column described in ACCESS_REPORT_COLUMNS (the
data dictionary, downloadable beside the report and in docs/audit.md).
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.utils import timezone

from access.models import AccessBasis, Role
from audit.models import Channel
from audit.report import Look
from records.categories import ALL_CATEGORIES


@dataclass(frozen=True)
class Column:
    name: str
    meaning: str
    values: str
    value: Callable[[Look], object]


def _codes(choices) -> str:
    return "; ".join(f"{value} ({label})" for value, label in choices)


ACCESS_REPORT_COLUMNS = (
    Column("look_id", "The look's access event (its id in the audit trail).", "a whole number",
           lambda look: look.event_id),
    Column("occurred_at", "When the look began, London time.",
           "ISO 8601 date and time with offset, to the second",
           lambda look: timezone.localtime(look.occurred_at).isoformat(timespec="seconds")),
    Column("when", "The same, as NHS.UK writes it.", 'e.g. "3 December 2026 at 2:30pm"',
           lambda look: look.when),
    Column("professional_name", "Who looked: the person's name; for a partner system, the "
           "partner's own user it named, else the system's name.", "text",
           lambda look: look.professional_name),
    Column("username", "Their username in the shared care record.", "text",
           lambda look: look.username),
    Column("user_id", "Their account's id.", "a whole number, or empty",
           lambda look: "" if look.user_id is None else look.user_id),
    Column("job_role", "The role they acted in, in words.", "text", lambda look: look.job_role),
    Column("role_code", "The same role as a code.", _codes(Role.choices),
           lambda look: look.role_code),
    Column("organisation", "The team they acted for.", "text", lambda look: look.organisation),
    Column("organisation_ods_code", "Its organisation's ODS code.", "text",
           lambda look: look.organisation_code),
    Column("headings", "The headings of the record shown, in words.", "text, comma separated",
           lambda look: ", ".join(look.headings)),
    Column("heading_codes", "The same headings as codes, space separated.",
           "; ".join((*ALL_CATEGORIES, "details (personal details only)")),
           lambda look: " ".join(look.heading_codes)),
    Column("items_shown", "Items shown by the look, those that arrived while it was open "
           "included.", "a whole number", lambda look: look.items_shown),
    Column("items_added_later", "Of those, the items that arrived after the page was drawn "
           "(the look's live updates).", "a whole number", lambda look: look.items_added_later),
    Column("basis", "Why they could look, in words.", "text", lambda look: look.basis),
    Column("basis_code", "The same basis as a code.", _codes(AccessBasis.choices),
           lambda look: look.basis_code),
    Column("relationship_id", "For a care relationship: its id.", "a whole number, or empty",
           lambda look: look.relationship_id or ""),
    Column("break_glass_id", "For emergency access: its id.", "a whole number, or empty",
           lambda look: look.break_glass_id or ""),
    Column("emergency_reason", "For emergency access: the reason chosen.", "text, or empty",
           lambda look: look.emergency_reason),
    Column("emergency_explanation", "For emergency access: what they wrote about why.",
           "text, or empty", lambda look: look.emergency_explanation),
    Column("channel", "How they looked, in words.", "text", lambda look: look.channel),
    Column("channel_code", "The same as a code.", _codes(Channel.choices),
           lambda look: look.channel_code),
    Column("partner_system", "For the API: the partner system that called.", "text, or empty",
           lambda look: look.partner_system),
)  # fmt: skip


def access_report_rows(looks: Iterable[Look]) -> Iterator[list[object]]:
    """The header, then one row per look (for records.safe_csv.csv_lines)."""
    yield [column.name for column in ACCESS_REPORT_COLUMNS]
    for look in looks:
        yield [column.value(look) for column in ACCESS_REPORT_COLUMNS]


def data_dictionary_rows() -> Iterator[list[object]]:
    """The access report's columns: name, meaning, values."""
    yield ["column", "meaning", "values"]
    for column in ACCESS_REPORT_COLUMNS:
        yield [column.name, column.meaning, column.values]
