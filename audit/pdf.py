"""A patient's access report as a PDF to hand to them (ReportLab): one row per look in plain
English, in tables whose cells wrap, with the organisation's name, the date produced and "Page 2
of 5" on every page.

Every piece of text goes into a Paragraph escaped as XML (ReportLab's Paragraph reads its text as
markup: "A&E" unescaped prints as "A&E;" and a "<" in a name would break the page), and every
column's width is fixed so that the table fits A4 landscape and nothing overprints.
"""

import datetime
import io
from collections.abc import Iterable
from itertools import islice
from xml.sax.saxutils import escape

from django.conf import settings
from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from audit.report import Look, ReportFilters, day_words, when_words
from records.models import Patient

PAGE = landscape(A4)
MARGIN = 15 * mm
HEADERS = ("When", "Who looked", "What they saw", "Why", "How")
# Millimetres; together the width of A4 landscape inside its margins (267 mm).
COLUMN_WIDTHS = (34, 68, 62, 70, 33)
ROWS_PER_TABLE = 100  # ReportLab splits a long table page by page in time that grows with it
NHS_BLUE = colors.HexColor("#005eb8")

_styles = getSampleStyleSheet()
CELL = ParagraphStyle("cell", parent=_styles["BodyText"], fontSize=8.5, leading=11)
HEADER_CELL = ParagraphStyle("header", parent=CELL, fontName="Helvetica-Bold", textColor="white")
BODY = ParagraphStyle("body", parent=_styles["BodyText"], fontSize=10, leading=13)
TITLE = ParagraphStyle("title", parent=_styles["Title"], alignment=0, fontSize=18, leading=22)


def text(value: object, style: ParagraphStyle = CELL) -> Paragraph:
    """A Paragraph showing `value` exactly as written (escaped, so nothing in it is markup)."""
    return Paragraph(escape(str(value)), style)


def look_row(look: Look) -> list[Paragraph]:
    """One look as a table row, every cell a Paragraph so that it wraps within its column."""
    who = escape(look.professional_name)
    if look.role_and_organisation:
        who += f"<br/>{escape(look.role_and_organisation)}"
    return [
        text(look.when),
        Paragraph(who, CELL),
        text(look.what),
        text(look.basis[:1].upper() + look.basis[1:]),
        text(look.channel[:1].upper() + look.channel[1:]),
    ]


def look_tables(looks: Iterable[Look]) -> list[Table]:
    """The looks as tables of ROWS_PER_TABLE rows, each with the header row repeated on every
    page it spans."""
    header = [text(name, HEADER_CELL) for name in HEADERS]
    widths = [width * mm for width in COLUMN_WIDTHS]
    tables = []
    looks = iter(looks)
    while rows := [look_row(look) for look in islice(looks, ROWS_PER_TABLE)]:
        # splitInRow: a row taller than a page (an emergency access explained at length) goes
        # on over the page rather than stopping the whole report.
        table = Table([header, *rows], colWidths=widths, repeatRows=1, splitInRow=1)
        table.setStyle(TABLE_STYLE)
        tables.append(table)
    return tables


TABLE_STYLE = TableStyle(
    [
        ("BACKGROUND", (0, 0), (-1, 0), NHS_BLUE),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f0f4f5")]),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#aeb7bd")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
    ]
)


def report_story(
    patient: Patient,
    looks: Iterable[Look],
    *,
    filters: ReportFilters,
    produced_at: datetime.datetime,
) -> list[Flowable]:
    """What the PDF says, in order: who it is about, what it covers, then the looks."""
    tables = look_tables(looks)
    count = sum(len(table._cellvalues) - 1 for table in tables)
    organisation = settings.LCR_ORGANISATION_NAME
    story: list[Flowable] = [
        text("Who has looked at your shared care record", TITLE),
        text(
            f"{patient.full_name}, NHS number {patient.formatted_nhs_number}, "
            f"born {day_words(patient.birth_date)}.",
            BODY,
        ),
        text(
            f"Produced by {organisation} on {when_words(produced_at)}. {filters.describe()} "
            f"{count} look{'' if count == 1 else 's'}, newest first.",
            BODY,
        ),
        text(
            "Each row is one time someone opened your record: who they are, what they saw, why "
            "they could, and how. Items that reached their screen while it was open are counted "
            "in the same row.",
            BODY,
        ),
        Spacer(1, 5 * mm),
    ]
    if not tables:
        story.append(text("Nobody has looked at the record in this time.", BODY))
    return story + tables


def access_report_pdf(
    patient: Patient,
    looks: Iterable[Look],
    *,
    filters: ReportFilters | None = None,
    produced_at: datetime.datetime | None = None,
) -> bytes:
    """The report as PDF bytes, marked confidential on every page."""
    produced_at = produced_at or timezone.now()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=PAGE,
        title=f"Access report {patient.nhs_number}",
        author=settings.LCR_ORGANISATION_NAME,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=18 * mm,
    )
    produced_on = day_words(timezone.localdate(produced_at))
    footer = (
        f"{settings.LCR_ORGANISATION_NAME} \u00b7 produced {produced_on} "
        "\u00b7 CONFIDENTIAL: contains personal information"
    )
    filters = filters or ReportFilters()
    story = report_story(patient, looks, filters=filters, produced_at=produced_at)
    document.build(story, canvasmaker=lambda *a, **k: NumberedCanvas(*a, footer=footer, **k))
    return buffer.getvalue()


class NumberedCanvas(Canvas):
    """A canvas that holds its pages back until the end, so that each can say 'Page 2 of 5'."""

    def __init__(self, *args, footer: str = "", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._footer = footer
        self._pages: list[dict] = []

    def showPage(self) -> None:
        self._pages.append(dict(self.__dict__))
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for state in self._pages:
            self.__dict__.update(state)
            self._draw_footer(total)
            super().showPage()
        super().save()

    def _draw_footer(self, total: int) -> None:
        self.saveState()
        self.setFont("Helvetica", 8)
        self.setFillColor(colors.HexColor("#4c6272"))
        self.drawString(MARGIN, 9 * mm, self._footer)
        self.drawRightString(PAGE[0] - MARGIN, 9 * mm, f"Page {self._pageNumber} of {total}")
        self.restoreState()
