"""The page that opens one document of a patient's record. Thin: who is asking, read_document,
then the document as its type allows: a PDF in the browser, text and HTML (sanitised) on a page,
anything else offered for download with its type and size."""

import codecs
import mimetypes
import re

import nh3
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from access.web import actor_from_request
from audit.models import Channel
from audit.request_context import context_from_request
from care_record.documents import DocumentNotListed, DocumentView, read_document
from records.models import Patient
from records.sources.attachments import PDF
from records.sources.limits import size_words

# No images: a letter's <img> would fetch from wherever it points (and our CSP refuses it anyway).
HTML_TAGS = nh3.ALLOWED_TAGS - {"img", "map", "area"}
_UNSAFE_IN_FILENAME = re.compile(r"[^A-Za-z0-9 ._-]+")
# What a reader calls the types sources send most; any other is said by its media type alone.
TYPE_WORDS = {
    "application/pdf": "PDF",
    "text/plain": "Plain text",
    "text/html": "Web page (HTML)",
    "application/msword": "Word document",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word document",
    "application/rtf": "Rich text document",
    "image/jpeg": "JPEG image",
    "image/png": "PNG image",
    "image/tiff": "TIFF image",
}


@never_cache
@require_GET
def patient_document(
    request: HttpRequest, patient_id: int, source_ods_code: str, document_id: str
) -> HttpResponse:
    """One document, fetched from its source now; `?download` sends it as a file whatever its
    type. Each opening is one look, recorded as one access event naming the document."""
    patient = get_object_or_404(Patient.objects.current(), pk=patient_id)
    try:
        document = read_document(
            actor=actor_from_request(request),
            patient=patient,
            source_ods_code=source_ods_code,
            document_id=document_id,
            channel=Channel.WEB,
            context=context_from_request(request),
        )
    except DocumentNotListed:
        return render(request, "care_record/document_not_listed.html", {"patient_id": patient_id},
                      status=404)  # fmt: skip
    attachment = document.attachment
    if document.problem or attachment is None or attachment.data is None:
        return _page(request, document)
    if "download" in request.GET:
        return _file(document, disposition="attachment")
    if attachment.content_type == PDF and attachment.data.startswith(b"%PDF-"):
        return _file(document, disposition="inline")
    if attachment.content_type == "text/html":
        return _page(request, document, html=nh3.clean(_text(document), tags=HTML_TAGS))
    if attachment.content_type == "text/plain":
        return _page(request, document, text=_text(document))
    return _page(request, document)  # described, with its download


def _page(request: HttpRequest, document: DocumentView, **shown: str) -> HttpResponse:
    attachment = document.attachment
    context = {
        "document": document,
        "patient": document.patient,
        "size": size_words(attachment.size) if attachment and attachment.size else "",
        "type": _type_words(attachment.content_type) if attachment else "Not known",
        **shown,
    }
    return render(request, "care_record/document.html", context)


def _type_words(content_type: str) -> str:
    words = TYPE_WORDS.get(content_type)
    return f"{words} ({content_type})" if words else content_type


def _text(document: DocumentView) -> str:
    """The document's text in the charset it declared, or UTF-8 when that one is unknown."""
    attachment = document.attachment
    try:
        # Only a text encoding: codecs also knows base64, rot13, zlib and the like, which a
        # source could name and which do not turn bytes into text.
        if codecs.lookup(attachment.charset)._is_text_encoding:
            return attachment.data.decode(attachment.charset, errors="replace")
    except (LookupError, UnicodeError):
        pass
    return attachment.data.decode("utf-8", errors="replace")


def _file(document: DocumentView, *, disposition: str) -> HttpResponse:
    attachment = document.attachment
    response = HttpResponse(attachment.data, content_type=attachment.content_type)
    name = _UNSAFE_IN_FILENAME.sub("", attachment.title).strip() or "document"
    extension = mimetypes.guess_extension(attachment.content_type) or ""
    response["Content-Disposition"] = f'{disposition}; filename="{name[:80]}{extension}"'
    response["X-Content-Type-Options"] = "nosniff"
    if disposition == "inline":
        # A browser may show a PDF through its viewer as an embedded object, which the pages'
        # `object-src 'none'` could refuse; this response is the PDF alone, no HTML of ours.
        response._csp_replace = {"object-src": ["'self'"]}
    return response
