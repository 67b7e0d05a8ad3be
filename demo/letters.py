"""Real PDF letters (ReportLab) for the simulated sources' documents: a discharge summary or a
clinic letter, as the hospital would send it, made from the DocumentReference that describes it.

Each PDF is made when asked for (`Binary/<id>` on the source) from the document's own plain-text
content, so the population stays quick to generate and a letter always says what its
DocumentReference says. The same document always gives the same bytes (ReportLab's invariant
mode: no creation time or random id inside), so tests and caches can compare them.
"""

import base64
import io
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

PDF = "application/pdf"
TEXT = "text/plain"


def letter_text(document: dict[str, Any]) -> str:
    """The document's plain-text content (its inline text/plain attachment), or its title."""
    for content in document.get("content") or []:
        attachment = content.get("attachment") or {}
        if attachment.get("contentType") == TEXT and attachment.get("data"):
            return base64.b64decode(attachment["data"]).decode("utf-8")
    return str(document.get("description") or "")


def with_absolute_urls(document: dict[str, Any], base_url: str) -> dict[str, Any]:
    """The document with its attachments' relative URLs (`Binary/<id>`) made absolute on the
    server at `base_url`, whose port is known only once it is serving."""
    contents = []
    for content in document.get("content") or []:
        url = (content.get("attachment") or {}).get("url")
        if isinstance(url, str) and not url.startswith(("http://", "https://")):
            attachment = {**content["attachment"], "url": f"{base_url.rstrip('/')}/{url}"}
            content = {**content, "attachment": attachment}
        contents.append(content)
    return {**document, "content": contents}


def letter_pdf(document: dict[str, Any]) -> bytes:
    """The document as a one- or two-page A4 PDF letter on its organisation's letterhead."""
    styles = getSampleStyleSheet()
    custodian = (document.get("custodian") or {}).get("display", "")
    authors = ", ".join(a.get("display", "") for a in document.get("author") or [])
    title = str(document.get("description") or "Letter")
    # The text begins with the letterhead and the title, which the PDF sets as headings.
    lines = [line for line in letter_text(document).splitlines() if line not in (custodian, title)]
    story = [
        Paragraph(escape(custodian), styles["Title"]),
        Paragraph(escape(title), styles["Heading2"]),
        Paragraph(escape(f"Written by {authors}") if authors else "", styles["Italic"]),
        Spacer(1, 6 * mm),
    ]
    for line in lines:
        story.append(Paragraph(escape(line), styles["BodyText"]) if line else Spacer(1, 3 * mm))
    buffer = io.BytesIO()
    SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=title,
        author=custodian,
        invariant=True,
        leftMargin=20 * mm,
        rightMargin=20 * mm,
    ).build(story)
    return buffer.getvalue()
