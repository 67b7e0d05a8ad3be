"""The patient access report as a PDF, for a subject access request (ReportLab)."""

import io

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from records.models import Patient


def access_report_pdf(patient: Patient, events) -> bytes:
    """Every look at the record, one line each, marked confidential on every page."""
    buffer = io.BytesIO()
    styles = getSampleStyleSheet()
    cell = ParagraphStyle("cell", parent=styles["BodyText"], fontSize=8, leading=10)
    document = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        title=f"Access report {patient.nhs_number}",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
    )
    rows = [["When", "Who", "Role", "Organisation", "What", "Items", "Basis", "How"]]
    for event in events:
        rows.append(
            [
                timezone.localtime(event.occurred_at).strftime("%d %b %Y %H:%M"),
                event.username,
                event.role,
                Paragraph(f"{event.team_name} ({event.organisation_ods_code})", cell),
                Paragraph(", ".join(event.categories).replace("_", " "), cell),
                str(len(event.resource_ids)),
                event.get_basis_display(),
                event.get_channel_display(),
            ]
        )
    table = Table(
        rows,
        repeatRows=1,
        colWidths=[width * mm for width in (28, 25, 28, 55, 70, 12, 32, 17)],
    )
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#005eb8")),
                ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("FONTSIZE", (0, 0), (-1, -1), 8),
            ]
        )
    )
    story = [
        Paragraph(
            f"Who has looked at the shared care record of {patient.full_name}", styles["Title"]
        ),
        Paragraph(
            f"NHS number {patient.formatted_nhs_number}, born {patient.birth_date:%d %B %Y}. "
            f"Produced {timezone.localtime():%d %B %Y %H:%M}; {len(rows) - 1} looks.",
            styles["BodyText"],
        ),
        Spacer(1, 6 * mm),
        table,
    ]

    def confidential(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica-Bold", 9)
        canvas.drawString(15 * mm, 8 * mm, "CONFIDENTIAL: contains personal information")
        canvas.drawRightString(282 * mm, 8 * mm, f"Page {doc.page}")
        canvas.restoreState()

    document.build(story, onFirstPage=confidential, onLaterPages=confidential)
    return buffer.getvalue()
