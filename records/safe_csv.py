"""CSV the product writes, safe to open in a spreadsheet: the one writer every CSV goes through
(the access report, its data dictionary, the emergency-access queue, the relationship import's
results). A text cell that a spreadsheet would take for a formula (a team named
=HYPERLINK(...)) is written behind a single quote, as OWASP advises against CSV injection.

It lives in records, the lowest app, so that every app above can write CSV through it.
"""

import csv
from collections.abc import Iterable, Iterator

# OWASP's list. Tab and CR too: some spreadsheets skip them and read the formula after them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell: object) -> object:
    """A text cell starting as a formula would, behind a single quote; anything else as it is
    (numbers are written as numbers: a spreadsheet runs nothing in them)."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


class _Line:
    """A file that hands back what is written to it: csv.writer then returns each line."""

    def write(self, value: str) -> str:
        return value


def csv_lines(rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """Each row as one line of CSV, every cell neutralised and quoted (OWASP: a quoted cell
    cannot start another with a stray comma), for a StreamingHttpResponse or a file."""
    writer = csv.writer(_Line(), quoting=csv.QUOTE_ALL)
    for row in rows:
        yield writer.writerow([neutralised(cell) for cell in row])
