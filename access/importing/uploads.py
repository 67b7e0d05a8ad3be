"""Kept uploads of the relationship import: the file's bytes and SHA-256, who uploaded it and
when, what its check found and what its import did, for IMPORT_KEPT_FOR; so that what was
checked is what is imported (by the upload's id, by its uploader, once), with no state in the
web process.
"""

import hashlib

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from access.exceptions import AccessDenied
from access.importing.reading import IMPORT_KEPT_FOR, Outcome, RowResult
from access.importing.running import check_file, import_file
from access.models import RelationshipImport
from records.limits import unstorable_character


class ImportRefused(Exception):
    """This kept upload cannot be imported as asked (already imported, not clean)."""


class UploadExpired(ImportRefused):
    """This upload was kept for IMPORT_KEPT_FOR and is gone: upload the file again."""


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
        row_count=sum(not result.whole_file for result in checked),
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
        if not any(result.outcome in (Outcome.ERROR, Outcome.NOT_IMPORTED) for result in results):
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
