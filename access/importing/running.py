"""Checking and importing a file of care relationships: what each row would do (be created, is
already in place, or is wrong), then doing it, all rows or none. A row already in place is not
an error: importing a file twice creates nothing the second time and says so, row by row.
"""

import logging
from dataclasses import replace

from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, transaction
from django.utils import timezone

from access.exceptions import RelationshipAlreadyInPlace, RelationshipError
from access.importing.reading import CHUNK, Outcome, ReadRow, RowResult, read, result_of
from access.models import CareRelationship
from access.services import start_relationship

logger = logging.getLogger(__name__)


def check_file(data: bytes) -> list[RowResult]:
    """What each row of this file would do if imported now, by line (nothing is written); the
    good rows too when others are wrong (the file cannot be imported until they are fixed)."""
    results, rows = read(data)
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
            results.append(result_of(row, Outcome.TO_CREATE))
            planned = CareRelationship(**values, pk=None)
            planned.line = row.line
            standing.setdefault(key, []).append(planned)
        elif getattr(alike, "line", None):
            results.append(
                result_of(row, Outcome.IN_PLACE, f"The same relationship as line {alike.line}.")
            )
        else:
            results.append(result_of(row, Outcome.IN_PLACE, RelationshipAlreadyInPlace(alike)))
    return sorted(results, key=lambda result: result.line)


def _standing(rows: list[ReadRow]) -> dict[tuple, list[CareRelationship]]:
    """The relationships not ended of the file's patients, by holder, patient and kind."""
    patient_ids = sorted({row.patient.pk for row in rows})
    standing: dict[tuple, list[CareRelationship]] = {}
    for start in range(0, len(patient_ids), CHUNK):
        for relationship in CareRelationship.objects.filter(
            patient_id__in=patient_ids[start : start + CHUNK], ended_at__isnull=True
        ).order_by("starts_on", "pk"):
            key = (
                relationship.patient_id,
                relationship.team_id,
                relationship.user_id,
                relationship.kind,
            )
            standing.setdefault(key, []).append(relationship)
    return standing


def import_file(data: bytes, *, actor: AbstractBaseUser) -> list[RowResult]:
    """Import every row of this file, or none: the rows already in place are left as they are;
    if any row is wrong now, nothing is written and each row says why or that it was not."""
    results, rows = read(data)
    if any(result.outcome is Outcome.ERROR for result in results):
        return _nothing_imported(results + [result_of(row, Outcome.CREATED) for row in rows])
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
        results = [result_of(row, Outcome.NOT_IMPORTED, busy) for row in rows]
    return sorted(results, key=lambda result: result.line)


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


def _canonical(row: ReadRow) -> tuple:
    return (row.patient.pk, row.team.pk if row.team else 0, row.user.pk if row.user else 0,
            row.kind, row.line)  # fmt: skip


class _NothingImported(Exception):
    def __init__(self, results: list[RowResult]) -> None:
        self.results = results


def _imported(row: ReadRow, actor: AbstractBaseUser) -> RowResult:
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
        return result_of(row, Outcome.IN_PLACE, exc)
    except RelationshipError as exc:
        return result_of(row, Outcome.ERROR, exc)
    return result_of(row, Outcome.CREATED)
