"""Reading a CSV file of care relationships: its columns, cells and dates, and the register's
patients, teams and users each row names; a result for each row that is wrong (no writes).

Columns: nhs_number, team_ods_code, team_name (or username, for one person), kind, starts_on,
ends_on (dates as people type them, day first: 1/12/2026, 01-12-2026, 2026-12-01, 1 Dec 2026,
1 December 2026; starts_on defaults to today, ends_on may be empty), reason.
Any line ending is read (Excel's CRLF, old Mac CR, LF, or a mix); each cell is held to the limit
of what it fills (records.limits, the models), as the form and the API hold it.
"""

import csv
import datetime
import enum
import io
import re
from dataclasses import asdict, dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.utils import timezone

from access.exceptions import RelationshipError
from access.models import CareRelationship, Team
from records.limits import FREE_TEXT_MAX_LENGTH, NHS_NUMBER_INPUT_MAX_LENGTH, free_text
from records.models import Patient
from records.nhs_numbers import format_nhs_number, normalise_nhs_number

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
# How long an upload is kept for its check, import and results (then purged: access.tasks).
IMPORT_KEPT_FOR = datetime.timedelta(hours=1)
# Day first, as in the UK; strptime reads 1 or 01 for a day or month, and month names in any case.
DATE_FORMATS = ("%d/%m/%Y", "%d-%m-%Y", "%Y-%m-%d", "%d %b %Y", "%d %B %Y")
DATE_EXAMPLE = "1/12/2026, 01-12-2026, 2026-12-01 or 1 December 2026"
# Rows whose register entries (or relationships) are read in one query each.
CHUNK = 1000


def _max_length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


# The longest each cell may be: what the field it fills can hold.
MAX_LENGTHS = {
    "nhs_number": NHS_NUMBER_INPUT_MAX_LENGTH,
    "team_ods_code": _max_length(Team, "ods_code"),
    "team_name": _max_length(Team, "name"),
    "username": _max_length(get_user_model(), "username"),
    "kind": _max_length(CareRelationship, "kind"),
    "starts_on": len("30 September 2026"),
    "ends_on": len("30 September 2026"),
    "reason": FREE_TEXT_MAX_LENGTH,
}


class Outcome(enum.StrEnum):
    """What the check found a row would do, then what the import did with it."""

    TO_CREATE = "to_create"
    CREATED = "created"
    IN_PLACE = "in_place"
    ERROR = "error"
    NOT_IMPORTED = "not_imported"

    @property
    def label(self) -> str:
        return {
            "to_create": "Will be created",
            "created": "Created",
            "in_place": "Already in place",
            "error": "Error",
            "not_imported": "Not imported",
        }[self.value]


@dataclass(frozen=True)
class RowResult:
    """One line of the file and what became of it, as the pages and the results CSV show it
    (kept as JSON on the upload), or a problem with the whole file (`whole_file`)."""

    line: int
    outcome: Outcome
    message: str = ""
    nhs_number: str = ""
    holder: str = ""  # the team (name and ODS code) or the person's username
    kind: str = ""
    starts_on: str = ""  # ISO dates as read; empty: not given
    ends_on: str = ""
    patient_id: int | None = None
    whole_file: bool = False  # a problem with the file as a whole: no row of it was read

    def as_json(self) -> dict:
        return {**asdict(self), "outcome": self.outcome.value}

    @classmethod
    def from_json(cls, data: dict) -> "RowResult":
        return cls(**{**data, "outcome": Outcome(data["outcome"])})


@dataclass
class ReadRow:
    """A row that reads well: the register's patient, team or user, and the values it gives."""

    line: int
    patient: Patient
    team: Team | None
    user: AbstractBaseUser | None
    kind: str
    starts_on: datetime.date | None
    ends_on: datetime.date | None
    reason: str


def result_of(row: ReadRow, outcome: Outcome, message: object = "") -> RowResult:
    return RowResult(
        line=row.line,
        outcome=outcome,
        message=str(message),
        nhs_number=format_nhs_number(row.patient.nhs_number),
        holder=f"{row.team.name} ({row.team.ods_code})" if row.team else row.user.get_username(),
        kind=row.kind,
        starts_on=row.starts_on.isoformat() if row.starts_on else "",
        ends_on=row.ends_on.isoformat() if row.ends_on else "",
        patient_id=row.patient.pk,
    )


def _file_problem(line: int, message: str) -> tuple[list[RowResult], list[ReadRow]]:
    return [RowResult(line=line, outcome=Outcome.ERROR, message=message, whole_file=True)], []


def read(data: bytes) -> tuple[list[RowResult], list[ReadRow]]:
    """The rows that are good (to be checked against the register's relationships), and a result
    for each that is not (or one for the file, if it cannot be read)."""
    if len(data) > MAX_BYTES:
        return _file_problem(0, f"The file is larger than {MAX_BYTES // 2**20} MB: split it.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return _file_problem(0, "The file is not UTF-8 text: save it as “CSV UTF-8”.")
    # newline="": the csv module itself then ends a row at CR, LF or CRLF, outside quotes.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        return _rows(reader)
    except csv.Error as exc:
        return _file_problem(reader.line_num, _unreadable(exc))


def _unreadable(exc: csv.Error) -> str:
    if "field larger than field limit" in str(exc):
        return (
            f"A cell is longer than the {csv.field_size_limit():,} characters CSV can read here "
            f"(a reason may have {FREE_TEXT_MAX_LENGTH:,}); nothing after it was read."
        )
    return f"This line is not CSV that can be read ({exc}); nothing after it was read."


def _rows(reader: csv.DictReader) -> tuple[list[RowResult], list[ReadRow]]:
    headers = set(reader.fieldnames or [])
    missing = [c for c in REQUIRED if c not in headers]
    if missing:
        return _file_problem(1, f"The file has no {', '.join(missing)} column.")
    unknown = sorted(headers - set(COLUMNS))
    if unknown:
        names = ", ".join(name if len(name) <= 40 else f"{name[:40]}…" for name in unknown[:10])
        return _file_problem(
            1, f"Unknown column(s): {names}. The columns are {', '.join(COLUMNS)}."
        )
    problems: list[RowResult] = []
    raw_rows = []
    for number, raw in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            return _file_problem(number, f"The file has more than {MAX_ROWS:,} rows: split it.")
        if raw.get(None):
            problems.append(
                RowResult(
                    line=number,
                    outcome=Outcome.ERROR,
                    message="This line has more cells than there are columns "
                    "(is there a comma in a reason without quotes around it?).",
                )
            )
            continue
        values = {key: (value or "").strip() for key, value in raw.items() if key}
        problem = _cell_problem(values)
        if problem:
            problems.append(RowResult(line=number, outcome=Outcome.ERROR, message=problem))
            continue
        raw_rows.append((number, values))
    if not raw_rows and not problems:
        return _file_problem(1, "The file has no rows under its header.")
    patients, teams, users = _register(raw_rows)
    rows = []
    for number, values in raw_rows:
        try:
            rows.append(_row(number, values, patients, teams, users))
        except (ValidationError, RelationshipError) as exc:
            message = exc.messages[0] if isinstance(exc, ValidationError) else str(exc)
            problems.append(
                RowResult(
                    line=number,
                    outcome=Outcome.ERROR,
                    message=message,
                    nhs_number=values.get("nhs_number", ""),
                    holder=values.get("username") or values.get("team_name", ""),
                    kind=values.get("kind", ""),
                    starts_on=values.get("starts_on", ""),
                    ends_on=values.get("ends_on", ""),
                )
            )
    return problems, rows


def _register(raw_rows: list[tuple[int, dict]]) -> tuple[dict, dict, dict]:
    """The patients, teams and users the rows name, each read in a bounded number of queries."""
    numbers = sorted({"".join(values.get("nhs_number", "").split()) for _, values in raw_rows})
    patients = {}
    for start in range(0, len(numbers), CHUNK):
        for patient in Patient.objects.filter(
            nhs_number__in=numbers[start : start + CHUNK]
        ).select_related("merged_into"):
            patients[patient.nhs_number] = patient
    teams = {(t.ods_code, t.name): t for t in Team.objects.all()}
    usernames = sorted({values["username"] for _, values in raw_rows if values.get("username")})
    users = {}
    for start in range(0, len(usernames), CHUNK):
        for user in get_user_model().objects.filter(
            username__in=usernames[start : start + CHUNK], is_active=True
        ):
            users[user.username] = user
    return patients, teams, users


def _cell_problem(values: dict[str, str]) -> str | None:
    """The first cell too long for what it fills, or holding what cannot be stored."""
    for column, value in values.items():
        try:
            free_text(value, what=f"the {column} cell", max_length=MAX_LENGTHS[column])
        except ValidationError as exc:
            return exc.messages[0]
    return None


def _row(line: int, values: dict, patients: dict, teams: dict, users: dict) -> ReadRow:
    digits = normalise_nhs_number(values.get("nhs_number", ""))
    patient = patients.get(digits)
    if patient is None:
        raise RelationshipError(
            f"No patient in the register has the NHS number {format_nhs_number(digits)}."
        )
    if patient.merged_into_id is not None:
        raise RelationshipError(
            f"{format_nhs_number(digits)} was merged into "
            f"{format_nhs_number(patient.merged_into.nhs_number)}: use that NHS number."
        )
    team = user = None
    if values.get("username"):
        if values.get("team_ods_code") or values.get("team_name"):
            raise RelationshipError("Give a team or a username, not both.")
        user = users.get(values["username"])
        if user is None:
            raise RelationshipError(
                f"There is no active user with the username {values['username']}."
            )
    else:
        team = teams.get((values.get("team_ods_code", ""), values.get("team_name", "")))
        if team is None:
            raise RelationshipError(
                f"There is no team called {values.get('team_name', '')!r} "
                f"with the ODS code {values.get('team_ods_code', '')!r}."
            )
    kind = values.get("kind", "")
    if kind not in CareRelationship.Kind.values:
        raise RelationshipError(
            f"The kind must be one of {', '.join(CareRelationship.Kind.values)}, not {kind!r}."
        )
    starts_on = _date(values.get("starts_on"), "starts_on")
    ends_on = _date(values.get("ends_on"), "ends_on")
    if starts_on and ends_on and ends_on < starts_on:
        raise RelationshipError("The ends_on date is before the starts_on date.")
    if ends_on and ends_on < timezone.localdate():
        raise RelationshipError("The ends_on date has already passed.")
    if not values.get("reason"):
        raise RelationshipError("The reason cell is empty: say why they care for this patient.")
    return ReadRow(line, patient, team, user, kind, starts_on, ends_on, values["reason"])


def parse_date(value: str) -> datetime.date:
    """A date as people type it in the UK, day first (DATE_FORMATS); ValueError otherwise."""
    value = re.sub(r"\s+", " ", value.strip())
    for date_format in DATE_FORMATS:
        try:
            return datetime.datetime.strptime(value, date_format).date()
        except ValueError:
            continue
    raise ValueError(value)


def _date(value: str | None, column: str) -> datetime.date | None:
    if not value:
        return None
    try:
        return parse_date(value)
    except ValueError:
        raise RelationshipError(
            f"The {column} cell must be a real date, day first, like {DATE_EXAMPLE}; "
            f"{value!r} is not."
        ) from None
