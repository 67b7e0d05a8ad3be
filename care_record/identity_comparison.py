"""Side-by-side comparisons for identity reviewers: a source's record beside a register entry,
or two register entries beside each other, each field marked Same, Different or Not given.

Presenters only (no queries): a restricted person's contact details are never read here (their
`contact` is empty), and a source record that may be a restricted person shows no postcode.
"""

import datetime
from dataclasses import dataclass
from enum import StrEnum

from records.confidentiality import RESTRICTED_NOTICE
from records.matching import name_similarity
from records.models import Patient, UnmatchedRecord
from records.nhs_numbers import format_nhs_number

NOT_GIVEN = "Not given"
NOT_SHARED = "Not shared (restricted)"


class Mark(StrEnum):
    SAME = "Same"
    DIFFERENT = "Different"
    NOT_GIVEN = "Not given"


@dataclass(frozen=True)
class Row:
    label: str
    left: str
    right: str
    mark: Mark

    @property
    def differs(self) -> bool:
        return self.mark == Mark.DIFFERENT


def _date(value: datetime.date | None) -> str:
    return f"{value.day} {value:%B %Y}" if value else ""


def _mark(left: str, right: str, same: bool | None = None) -> Mark:
    if not left or not right:
        return Mark.NOT_GIVEN
    if same is None:
        same = left.strip().casefold() == right.strip().casefold()
    return Mark.SAME if same else Mark.DIFFERENT


def _row(label: str, left: str, right: str, same: bool | None = None, *, shown=None) -> Row:
    """`shown`: what to write in place of a side that may not be shown (left, right)."""
    mark = _mark(left, right, same)
    left_shown, right_shown = shown or (None, None)
    return Row(
        label,
        left_shown or left or NOT_GIVEN,
        right_shown or right or NOT_GIVEN,
        mark,
    )


def _same_name(a: str, b: str) -> bool:
    return name_similarity(a, b) >= 1.0


def _digits(value: str) -> str:
    return "".join(ch for ch in value if ch.isdigit())


def _practice(patient: Patient) -> str:
    contact = patient.contact
    if not contact.gp_practice_name:
        return ""
    code = f" ({contact.gp_practice_ods_code})" if contact.gp_practice_ods_code else ""
    return contact.gp_practice_name + code


def source_against_register(
    record: UnmatchedRecord, patient: Patient, *, hide_source_postcode: bool
) -> list[Row]:
    """The source's record (left) beside one candidate register entry (right)."""
    restricted = patient.contact.restricted
    source_postcode = "" if hide_source_postcode else record.postcode
    stated = _digits(record.stated_nhs_number)
    return [
        _row(
            "Name",
            f"{record.given_names} {record.family_name.upper()}".strip(),
            patient.full_name,
            _same_name(record.given_names, patient.given_names)
            and _same_name(record.family_name, patient.family_name)
            if record.given_names and record.family_name
            else None,
        ),
        _row("Date of birth", _date(record.birth_date), _date(patient.birth_date)),
        # The queue keeps no sex, nor GP practice, of a source's record.
        _row("Sex", "", patient.get_sex_display()),
        _row(
            "Postcode",
            source_postcode,
            patient.contact.postcode,
            source_postcode.replace(" ", "").upper()
            == patient.contact.postcode.replace(" ", "").upper(),
            shown=(
                NOT_SHARED if hide_source_postcode and record.postcode else None,
                NOT_SHARED if restricted else None,
            ),
        ),
        _row(
            "NHS number",
            format_nhs_number(stated) if len(stated) == 10 else record.stated_nhs_number,
            patient.formatted_nhs_number,
            stated == patient.nhs_number,
        ),
        _row(
            "GP practice", "", _practice(patient), shown=(None, NOT_SHARED if restricted else None)
        ),
    ]


def register_against_register(first: Patient, second: Patient) -> list[Row]:
    """Two register entries side by side, for a merge."""
    hidden = (
        NOT_SHARED if first.contact.restricted else None,
        NOT_SHARED if second.contact.restricted else None,
    )
    return [
        _row(
            "Name",
            first.full_name,
            second.full_name,
            _same_name(first.given_names, second.given_names)
            and _same_name(first.family_name, second.family_name),
        ),
        _row("Date of birth", _date(first.birth_date), _date(second.birth_date)),
        _row("Sex", first.get_sex_display(), second.get_sex_display()),
        _row("NHS number", first.formatted_nhs_number, second.formatted_nhs_number),
        _row(
            "Address",
            ", ".join(first.contact.address),
            ", ".join(second.contact.address),
            shown=hidden,
        ),
        _row("GP practice", _practice(first), _practice(second), shown=hidden),
        _row("Date of death", _date(first.date_of_death), _date(second.date_of_death)),
    ]


def restricted_notice(*patients: Patient) -> str:
    """The notice to show once above a comparison that has a restricted person in it."""
    return RESTRICTED_NOTICE if any(p.contact.restricted for p in patients) else ""
