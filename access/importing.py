"""Bulk import of care relationships from a CSV file, in two steps on one kept upload: the check
says what each row would do (be created, is already in place, or is wrong and why); the import
then does exactly that file (kept server-side by id with its SHA-256, never uploaded again),
all rows or none. A row already in place is not an error: importing a file twice creates
nothing the second time and says so, row by row.

Columns: nhs_number, team_ods_code, team_name (or username, for one person), kind, starts_on,
ends_on (dates as people type them, day first: 1/12/2026, 01-12-2026, 2026-12-01, 1 Dec 2026,
1 December 2026; starts_on defaults to today, ends_on may be empty), reason.
Any line ending is read (Excel's CRLF, old Mac CR, LF, or a mix); each cell is held to the limit
of what it fills (records.limits, the models), as the form and the API hold it.
"""

import csv
import datetime
import enum
import hashlib
import io
import logging
import re
from dataclasses import asdict, dataclass, replace

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from access.exceptions import AccessDenied, RelationshipAlreadyInPlace, RelationshipError
from access.models import CareRelationship, RelationshipImport, Team
from access.services import start_relationship
from records.limits import (
    FREE_TEXT_MAX_LENGTH,
    NHS_NUMBER_INPUT_MAX_LENGTH,
    free_text,
    unstorable_character,
)
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
# Rows whose register entries are read in one query each.
_CHUNK = 1000


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

logger = logging.getLogger(__name__)


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
    (kept as JSON on the upload). Line 1 or 0 with no NHS number: a problem with the file."""

    line: int
    outcome: Outcome
    message: str = ""
    nhs_number: str = ""
    holder: str = ""  # the team (name and ODS code) or the person's username
    kind: str = ""
    starts_on: str = ""  # ISO dates as read; empty: not given
    ends_on: str = ""
    patient_id: int | None = None

    def as_json(self) -> dict:
        return {**asdict(self), "outcome": self.outcome.value}

    @classmethod
    def from_json(cls, data: dict) -> "RowResult":
        return cls(**{**data, "outcome": Outcome(data["outcome"])})


class ImportRefused(Exception):
    """This kept upload cannot be imported as asked (already imported, not clean)."""


class UploadExpired(ImportRefused):
    """This upload was kept for IMPORT_KEPT_FOR and is gone: upload the file again."""


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


# Reading and checking a file (no writes)


def check_file(data: bytes) -> list[RowResult]:
    """What each row of this file would do if imported now, by line (nothing is written)."""
    results, rows = _read(data)
    if any(result.outcome is Outcome.ERROR for result in results):
        return sorted(results, key=lambda result: result.line)
    today = timezone.localdate()
    standing = _standing(rows)
    for row in rows:
        starts_on = row.starts_on or today
        values = {
            "patient_id": row.patient.pk,
            "team_id": row.team.pk if row.team else None,
            "user_id": row.user.pk if row.user else None,
            "kind": row.kind,
            "starts_on": starts_on,
            "ends_on": row.ends_on,
        }
        key = (values["patient_id"], values["team_id"], values["user_id"], row.kind)
        alike = next((r for r in standing.get(key, []) if r.is_alike(**values)), None)
        if alike is None:
            results.append(_result(row, Outcome.TO_CREATE))
            planned = CareRelationship(**values, pk=None)
            planned.line = row.line
            standing.setdefault(key, []).append(planned)
        elif getattr(alike, "line", None):
            results.append(
                _result(row, Outcome.IN_PLACE, f"The same relationship as line {alike.line}.")
            )
        else:
            results.append(_result(row, Outcome.IN_PLACE, RelationshipAlreadyInPlace(alike)))
    return sorted(results, key=lambda result: result.line)


def _standing(rows: list[_Row]) -> dict[tuple, list[CareRelationship]]:
    """The relationships not ended of the file's patients, by holder, patient and kind."""
    patient_ids = sorted({row.patient.pk for row in rows})
    standing: dict[tuple, list[CareRelationship]] = {}
    for start in range(0, len(patient_ids), _CHUNK):
        for relationship in CareRelationship.objects.filter(
            patient_id__in=patient_ids[start : start + _CHUNK], ended_at__isnull=True
        ).order_by("starts_on", "pk"):
            key = (
                relationship.patient_id,
                relationship.team_id,
                relationship.user_id,
                relationship.kind,
            )
            standing.setdefault(key, []).append(relationship)
    return standing


def _result(row: _Row, outcome: Outcome, message: object = "") -> RowResult:
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


def _file_problem(line: int, message: str) -> tuple[list[RowResult], list[_Row]]:
    return [RowResult(line=line, outcome=Outcome.ERROR, message=message)], []


def _read(data: bytes) -> tuple[list[RowResult], list[_Row]]:
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


def _rows(reader: csv.DictReader) -> tuple[list[RowResult], list[_Row]]:
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
    for start in range(0, len(numbers), _CHUNK):
        for patient in Patient.objects.filter(
            nhs_number__in=numbers[start : start + _CHUNK]
        ).select_related("merged_into"):
            patients[patient.nhs_number] = patient
    teams = {(t.ods_code, t.name): t for t in Team.objects.all()}
    usernames = sorted({values["username"] for _, values in raw_rows if values.get("username")})
    users = {}
    for start in range(0, len(usernames), _CHUNK):
        for user in get_user_model().objects.filter(
            username__in=usernames[start : start + _CHUNK], is_active=True
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


def _row(line: int, values: dict, patients: dict, teams: dict, users: dict) -> _Row:
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
    return _Row(line, patient, team, user, kind, starts_on, ends_on, values["reason"])


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


# Importing a checked file


def import_file(data: bytes, *, actor: AbstractBaseUser) -> list[RowResult]:
    """Import every row of this file, or none: the rows already in place are left as they are;
    if any row is wrong now, nothing is written and each row says why or that it was not."""
    results, rows = _read(data)
    if any(result.outcome is Outcome.ERROR for result in results):
        return _nothing_imported(results + [_result(row, Outcome.CREATED) for row in rows])
    # In one order whatever the file's, so that two imports at once wait on each other's rows
    # in the same order and never on each other in a circle.
    rows.sort(key=_canonical)
    try:
        with transaction.atomic():
            results = [_imported(row, actor) for row in rows]
            if any(result.outcome is Outcome.ERROR for result in results):
                raise _NothingImported(results)
    except _NothingImported as failed:
        return _nothing_imported(failed.results)
    except DatabaseError:
        logger.exception("importing relationships failed")
        busy = "Not imported: the database was busy. Nothing was written; try again."
        results = [_result(row, Outcome.NOT_IMPORTED, busy) for row in rows]
    return sorted(results, key=lambda result: result.line)


_NOT_WRITTEN = (Outcome.ERROR, Outcome.NOT_IMPORTED)


def _nothing_imported(results: list[RowResult]) -> list[RowResult]:
    """Every row that is not itself wrong: not imported, because another is."""
    return sorted(
        (
            result
            if result.outcome is Outcome.ERROR
            else replace(
                result,
                outcome=Outcome.NOT_IMPORTED,
                message="Not imported: another row of the file is wrong.",
            )
            for result in results
        ),
        key=lambda result: result.line,
    )


def _canonical(row: _Row) -> tuple:
    return (row.patient.pk, row.team.pk if row.team else 0, row.user.pk if row.user else 0,
            row.kind, row.line)  # fmt: skip


class _NothingImported(Exception):
    def __init__(self, results: list[RowResult]) -> None:
        self.results = results


def _imported(row: _Row, actor: AbstractBaseUser) -> RowResult:
    try:
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
    except RelationshipAlreadyInPlace as exc:
        return _result(row, Outcome.IN_PLACE, exc)
    except RelationshipError as exc:
        return _result(row, Outcome.ERROR, exc)
    return _result(row, Outcome.CREATED)


# Kept uploads


def keep_upload(*, file_name: str, data: bytes, actor: AbstractBaseUser) -> RelationshipImport:
    """Keep an uploaded file for IMPORT_KEPT_FOR, with what its check found."""
    checked = check_file(data)
    return RelationshipImport.objects.create(
        file_name="".join(c for c in file_name if unstorable_character(c) is None)[:255],
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        uploaded_by=actor,
        uploaded_at=timezone.now(),
        row_count=len({result.line for result in checked if result.nhs_number}),
        checked_rows=[result.as_json() for result in checked],
    )


def kept_upload(*, import_id: int, actor: AbstractBaseUser) -> RelationshipImport:
    """The actor's own kept upload; anyone else's, or one purged, is not found (AccessDenied).
    One past IMPORT_KEPT_FOR is purged on the way, and said so (UploadExpired)."""
    kept = RelationshipImport.objects.filter(pk=import_id, uploaded_by=actor).first()
    if kept is None:
        raise AccessDenied("no such upload of this user's")
    if kept.uploaded_at < timezone.now() - IMPORT_KEPT_FOR:
        kept.delete()
        minutes = int(IMPORT_KEPT_FOR.total_seconds() // 60)
        raise UploadExpired(
            f"Uploaded files are kept for {minutes} minutes, and {kept.file_name} has been "
            "deleted. Upload it again to check and import it."
        )
    return kept


def import_upload(*, import_id: int, actor: AbstractBaseUser, sha256: str) -> RelationshipImport:
    """Import the kept upload that was checked (its hash as the page showed it), once."""
    kept_upload(import_id=import_id, actor=actor)  # (purges it if expired: not to be undone)
    with transaction.atomic():
        kept = RelationshipImport.objects.select_for_update().filter(pk=import_id).first()
        if kept is None:  # purged since
            raise AccessDenied("no such upload of this user's")
        if kept.imported_at is not None:
            raise ImportRefused("This file has already been imported.")
        if sha256 != kept.sha256:
            raise ImportRefused("This is not the file that was checked: upload it again.")
        if not to_create(checked_rows(kept)):
            raise ImportRefused("The check found nothing this file could import.")
        results = import_file(bytes(kept.data), actor=actor)
        kept.imported_rows = [result.as_json() for result in results]
        if not any(result.outcome in _NOT_WRITTEN for result in results):
            kept.imported_at = timezone.now()
        kept.save(update_fields=["imported_rows", "imported_at"])
    return kept


def checked_rows(kept: RelationshipImport) -> list[RowResult]:
    return [RowResult.from_json(data) for data in kept.checked_rows]


def imported_rows(kept: RelationshipImport) -> list[RowResult]:
    return [RowResult.from_json(data) for data in kept.imported_rows]


def to_create(results: list[RowResult]) -> int:
    """How many relationships the import of a clean check would create (0 if any row is wrong)."""
    if any(result.outcome is Outcome.ERROR for result in results):
        return 0
    return sum(result.outcome is Outcome.TO_CREATE for result in results)


def purge_expired_uploads() -> int:
    """Periodic: forget uploads kept longer than IMPORT_KEPT_FOR (their bytes and results)."""
    deleted, _ = RelationshipImport.objects.filter(
        uploaded_at__lt=timezone.now() - IMPORT_KEPT_FOR
    ).delete()
    return deleted


RESULT_CSV_COLUMNS = (
    "line", "nhs_number", "team_or_person", "kind", "starts_on", "ends_on", "outcome", "message",
)  # fmt: skip


def results_csv_rows(results: list[RowResult]) -> list[list[object]]:
    """The header, then one row a line of the file (for records.safe_csv.csv_lines)."""
    return [list(RESULT_CSV_COLUMNS)] + [
        [
            result.line,
            result.nhs_number,
            result.holder,
            result.kind,
            result.starts_on,
            result.ends_on,
            result.outcome.label,
            result.message,
        ]
        for result in results
    ]
