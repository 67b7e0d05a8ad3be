"""Bulk import of care relationships from a CSV file, in two steps on one kept upload: the check
says what each row would do (be created, is already in place, or is wrong and why); the import
then does exactly that file (kept server-side by id with its SHA-256, never uploaded again),
all rows or none. The package's face, re-exported here: reading (columns, cells, dates),
running (check and import) and uploads (keeping a file for its check, import and results).
"""

from access.importing.reading import (
    COLUMNS,
    DATE_EXAMPLE,
    IMPORT_KEPT_FOR,
    MAX_BYTES,
    MAX_ROWS,
    Outcome,
    RowResult,
    parse_date,
)
from access.importing.running import check_file, import_file
from access.importing.uploads import (
    RESULT_CSV_COLUMNS,
    ImportRefused,
    UploadExpired,
    checked_rows,
    import_upload,
    imported_rows,
    keep_upload,
    kept_upload,
    purge_expired_uploads,
    results_csv_rows,
    to_create,
)

__all__ = [
    "COLUMNS",
    "DATE_EXAMPLE",
    "IMPORT_KEPT_FOR",
    "MAX_BYTES",
    "MAX_ROWS",
    "RESULT_CSV_COLUMNS",
    "ImportRefused",
    "Outcome",
    "RowResult",
    "UploadExpired",
    "check_file",
    "checked_rows",
    "import_file",
    "import_upload",
    "imported_rows",
    "keep_upload",
    "kept_upload",
    "parse_date",
    "purge_expired_uploads",
    "results_csv_rows",
    "to_create",
]
