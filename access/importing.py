"""Bulk import of care relationships from a CSV file: all rows or none.

Columns: nhs_number, team_ods_code, team_name (or username, for one person), kind, starts_on,
ends_on (dates as YYYY-MM-DD; starts_on defaults to today, ends_on may be empty), reason.
Any line ending is read (Excel's CRLF, old Mac CR, LF, or a mix); each cell is held to the limit
of what it fills (records.limits, the models), as the form and the API hold it.
"""

import csv
import datetime
import io
import logging
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from access.exceptions import RelationshipError
from access.models import CareRelationship, Team
from access.services import start_relationship
from records.limits import FREE_TEXT_MAX_LENGTH, NHS_NUMBER_INPUT_MAX_LENGTH, free_text
from records.models import Patient
from records.nhs_numbers import normalise_nhs_number

COLUMNS = (
    "nhs_number",
    "team_ods_code",
    "team_name",
    "username",
    "kind",
    "starts_on",
    "ends_on",
    "reason",
)
REQUIRED = ("nhs_number", "kind", "reason")
MAX_ROWS = 50_000
MAX_BYTES = 10 * 1024 * 1024


def _max_length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


# The longest each cell may be: what the field it fills can hold.
MAX_LENGTHS = {
    "nhs_number": NHS_NUMBER_INPUT_MAX_LENGTH,
    "team_ods_code": _max_length(Team, "ods_code"),
    "team_name": _max_length(Team, "name"),
    "username": _max_length(get_user_model(), "username"),
    "kind": _max_length(CareRelationship, "kind"),
    "starts_on": len("2026-11-25"),
    "ends_on": len("2026-11-25"),
    "reason": FREE_TEXT_MAX_LENGTH,
}

logger = logging.getLogger(__name__)


@dataclass
class ImportReport:
    rows: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)
    created: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class _Row:
    line: int
    patient: Patient
    team: Team | None
    user: AbstractBaseUser | None
    kind: str
    starts_on: datetime.date | None
    ends_on: datetime.date | None
    reason: str


def import_relationships(*, data: bytes, actor: AbstractBaseUser, dry_run: bool) -> ImportReport:
    """Check every row; create them all (in one transaction) only if every row is good."""
    report = ImportReport()
    rows = _read(data, report)
    if report.errors or dry_run:
        return report
    line = 0
    try:
        with transaction.atomic():
            for row in rows:
                line = row.line
                start_relationship(
                    patient=row.patient,
                    team=row.team,
                    user=row.user,
                    kind=row.kind,
                    starts_on=row.starts_on,
                    ends_on=row.ends_on,
                    reason=row.reason,
                    actor=actor,
                )
    except RelationshipError as exc:
        report.errors.append((line, f"nothing was imported: {exc}"))
        return report
    except DatabaseError:
        logger.exception("importing relationships failed at line %s", line)
        report.errors.append((line, "nothing was imported: the database refused this row"))
        return report
    report.created = len(rows)
    return report


def _read(data: bytes, report: ImportReport) -> list[_Row]:
    if len(data) > MAX_BYTES:
        report.errors.append((0, f"the file is larger than {MAX_BYTES // 2**20} MB: split it"))
        return []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.errors.append((0, "the file is not UTF-8 text (save it as CSV UTF-8)"))
        return []
    # newline="": the csv module itself then ends a row at CR, LF or CRLF, outside quotes.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _rows(reader, report)
    except csv.Error as exc:
        report.errors = [(reader.line_num, _unreadable(exc))]
        return []


def _unreadable(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return (
            f"a cell is longer than the {csv.field_size_limit():,} characters CSV can read here "
            f"(a reason may have {FREE_TEXT_MAX_LENGTH:,}); nothing after it was read"
        )
    return f"this line is not CSV that can be read ({exc}); nothing after it was read"


def _rows(reader: csv.DictReader, report: ImportReport) -> list[_Row]:
    headers = set(reader.fieldnames or [])
    missing = [c for c in REQUIRED if c not in headers]
    if missing:
        report.errors.append((1, f"missing column(s): {', '.join(missing)}"))
        return []
    unknown = sorted(headers - set(COLUMNS))
    if unknown:
        names = ", ".join(name if len(name) <= 40 else f"{name[:40]}…" for name in unknown[:10])
        report.errors.append((1, f"unknown column(s): {names}"))
        return []
    raw_rows = []
    seen: dict[tuple, int] = {}
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            report.errors = [(number, f"more than {MAX_ROWS:,} rows: split the file")]
            return []
        if raw.get(None):
            report.errors.append(
                (number, "more fields than columns (is there an unquoted comma in a reason?)")
            )
            continue
        values = {key: (value or "").strip() for key, value in raw.items() if key}
        problem = _cell_problem(values)
        if problem:
            report.errors.append((number, problem))
            continue
        same = tuple(sorted(values.items()))
        if same in seen:
            report.errors.append((number, f"the same as line {seen[same]}"))
            continue
        seen[same] = number
        raw_rows.append((number, values))
    report.rows = len(raw_rows) + len(report.errors)
    numbers = {"".join(values.get("nhs_number", "").split()) for _, values in raw_rows}
    patients = {
        p.nhs_number: p
        for p in Patient.objects.filter(nhs_number__in=numbers).select_related("merged_into")
    }
    teams = {(t.ods_code, t.name): t for t in Team.objects.all()}
    usernames = {values["username"] for _, values in raw_rows if values.get("username")}
    users = {
        u.username: u
        for u in get_user_model().objects.filter(username__in=usernames, is_active=True)
    }
    rows = []
    for number, values in raw_rows:
        try:
            rows.append(_row(number, values, patients, teams, users))
        except (ValidationError, ValueError, RelationshipError) as exc:
            message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            report.errors.append((number, message))
    if report.rows == 0:
        report.errors.append((1, "the file has no rows"))
    report.errors.sort()
    return rows


def _cell_problem(values: dict[str, str]) -> str | None:
    """The first cell too long for what it fills, or holding what cannot be stored."""
    for column, value in values.items():
        try:
            free_text(value, what=f"the {column} cell", max_length=MAX_LENGTHS[column])
        except ValidationError as exc:
            return exc.messages[0]
    return None


def _row(line: int, values: dict, patients: dict, teams: dict, users: dict) -> _Row:
    digits = normalise_nhs_number(values.get("nhs_number", ""))
    patient = patients.get(digits)
    if patient is None:
        raise RelationshipError(f"no patient with NHS number {digits}")
    if patient.merged_into_id is not None:
        raise RelationshipError(
            f"{digits} was merged into {patient.merged_into.nhs_number}; use that NHS number"
        )
    team = user = None
    if values.get("username"):
        if values.get("team_ods_code") or values.get("team_name"):
            raise RelationshipError("give a team or a username, not both")
        user = users.get(values["username"])
        if user is None:
            raise RelationshipError(f"no active user {values['username']}")
    else:
        team = teams.get((values.get("team_ods_code", ""), values.get("team_name", "")))
        if team is None:
            raise RelationshipError(
                f"no team {values.get('team_name', '')!r} at {values.get('team_ods_code', '')!r}"
            )
    kind = values.get("kind", "")
    if kind not in CareRelationship.Kind.values:
        raise RelationshipError(
            f"kind must be one of {', '.join(CareRelationship.Kind.values)}, not {kind!r}"
        )
    starts_on = _date(values.get("starts_on"), "starts_on")
    ends_on = _date(values.get("ends_on"), "ends_on")
    if starts_on and ends_on and ends_on < starts_on:
        raise RelationshipError("ends_on is before starts_on")
    if ends_on and ends_on < timezone.localdate():
        raise RelationshipError("ends_on has already passed")
    if not values.get("reason"):
        raise RelationshipError("reason is empty")
    return _Row(line, patient, team, user, kind, starts_on, ends_on, values["reason"])


def _date(value: str | None, column: str) -> datetime.date | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise RelationshipError(f"{column} must be a date like 2026-11-25, not {value!r}") from exc
