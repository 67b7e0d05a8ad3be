"""Fetch one DocumentReference's attachment (a letter, a discharge summary) from its source when
someone opens it: inline `data`, or its `url` on the source's own server, within a size limit.

The document is never stored here: it is read when asked for and handed to the page that shows
it. The same client as a search (headers, timeouts, the source's time budget) fetches it, and a
URL off the source's own addresses is refused, so that our requests never travel elsewhere.
"""

import base64
import binascii
import time
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urljoin, urlsplit

import orjson

from records.sources.errors import (
    LimitExceeded,
    MalformedResponse,
)
from records.sources.fhir_client import FHIR_JSON, FhirClient, refusal_of
from records.sources.limits import ResponseLimits, read_body, size_words

OCTET_STREAM = "application/octet-stream"
PDF = "application/pdf"
# Types the page shows itself (sanitised when HTML); anything else is offered for download.
SHOWN_TYPES = frozenset({PDF, "text/plain", "text/html"})


class DocumentTooLarge(LimitExceeded):
    """The document is larger than the record opens (`limit`, in bytes); `size` when known."""

    def __init__(self, *, limit: int, size: int | None, detail: str = "") -> None:
        most = size_words(limit)
        super().__init__(
            f"the document is {size_words(size)}; the record opens documents up to {most}"
            if size
            else f"the document is more than {most}, the most the record opens",
            detail=detail,
        )
        self.limit, self.size = limit, size


@dataclass(frozen=True)
class Attachment:
    """What a DocumentReference's first content says of its document, and the document itself
    once fetched (`data`; None when only described)."""

    content_type: str  # the media type alone, lower case ("application/pdf")
    charset: str  # for text, as the source declared it ("utf-8" when it did not)
    title: str
    size: int | None  # bytes: as declared, or as read
    url: str = ""  # absolute, on the source's server; empty when the data is inline
    data: bytes | None = None

    @property
    def shown_here(self) -> bool:
        return self.content_type in SHOWN_TYPES


def describe_attachment(document: dict[str, Any], *, base_url: str) -> Attachment:
    """The first attachment of a DocumentReference, as it describes itself; MalformedResponse
    if it has none we can reach (no data, no URL)."""
    contents = document.get("content")
    first = contents[0] if isinstance(contents, list) and contents else None
    attachment = first.get("attachment") if isinstance(first, dict) else None
    if not isinstance(attachment, dict):
        raise MalformedResponse("the document has no attachment")
    content_type, charset = _media_type(attachment.get("contentType"))
    size = attachment.get("size")
    data = attachment.get("data")
    url = attachment.get("url")
    inline = None
    if isinstance(data, str) and data:
        try:
            inline = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedResponse("the document's inline data is not base64") from exc
        size = len(inline)
    elif isinstance(url, str) and url:
        url = urljoin(base_url.rstrip("/") + "/", url)
    else:
        raise MalformedResponse("the document's attachment has neither data nor a URL")
    return Attachment(
        content_type=content_type,
        charset=charset,
        title=str(attachment.get("title") or document.get("description") or "Document"),
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        url="" if inline is not None else url,
        data=inline,
    )


def fetch_attachment(
    attachment: Attachment,
    *,
    base_urls: tuple[str, ...],
    timeout: float,
    budget_seconds: float,
    max_bytes: int,
) -> Attachment:
    """The attachment with its document read (from its URL unless it came inline), refused
    whole (DocumentTooLarge) past `max_bytes`, or SourceError when the source does not give it."""
    if attachment.size is not None and attachment.size > max_bytes:
        raise DocumentTooLarge(limit=max_bytes, size=attachment.size, detail="declared size")
    if attachment.data is not None:
        return attachment
    if _origin(attachment.url) not in {_origin(base) for base in base_urls}:
        # Credentials and the patient's identity must never travel to another server. A
        # hospital's documents may be served beside its FHIR base (/documents/ as well as
        # /fhir/Binary/), as NRL pointers show, so the same origin is enough.
        raise MalformedResponse("the document's URL is not on its source's server")
    limits = ResponseLimits(
        max_bytes=max_bytes,
        max_decompressed_bytes=max_bytes,
        max_depth=8,
        max_string_chars=max_bytes,
    )
    deadline = time.monotonic() + budget_seconds
    client = FhirClient(base_urls[0], timeout=timeout, limits=limits, deadline=deadline)
    where = attachment.url.split("?", 1)[0]
    accept = attachment.content_type if attachment.content_type != OCTET_STREAM else "*/*"
    response = client.get_response(
        attachment.url, headers={"Accept": f"{accept}, {FHIR_JSON};q=0.5"}
    )
    with response:
        if response.status_code in (404, 410):
            raise MalformedResponse(
                "the source no longer has the document", detail=str(response.status_code)
            )
        refused = refusal_of(response, where=where)
        if refused is not None:
            raise refused
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise DocumentTooLarge(limit=max_bytes, size=int(declared), detail="Content-Length")
        try:
            body = read_body(response, limits, deadline=deadline, where=where)
        except LimitExceeded as exc:
            raise DocumentTooLarge(limit=max_bytes, size=None, detail=exc.detail) from exc
        sent_type, sent_charset = _media_type(response.headers.get("Content-Type"))
    if sent_type in (FHIR_JSON, "application/json"):
        return _from_binary(attachment, body, max_bytes)
    content_type = attachment.content_type if sent_type in ("", OCTET_STREAM) else sent_type
    return Attachment(
        content_type=content_type,
        charset=sent_charset if sent_type.startswith("text/") else attachment.charset,
        title=attachment.title,
        size=len(body),
        data=body,
    )


def _from_binary(attachment: Attachment, body: bytes, max_bytes: int) -> Attachment:
    """A FHIR Binary resource (what a server may send for `Binary/<id>` asked as JSON)."""
    try:
        binary = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedResponse("the document's Binary is not JSON") from exc
    if not isinstance(binary, dict) or binary.get("resourceType") != "Binary":
        raise MalformedResponse("the document's URL did not give a Binary")
    try:
        data = base64.b64decode(str(binary.get("data") or ""), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedResponse("the document's Binary data is not base64") from exc
    if len(data) > max_bytes:
        raise DocumentTooLarge(limit=max_bytes, size=len(data))
    content_type, charset = _media_type(binary.get("contentType"))
    return Attachment(
        content_type=content_type if content_type != OCTET_STREAM else attachment.content_type,
        charset=charset,
        title=attachment.title,
        size=len(data),
        data=data,
    )


def _origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of an address, the port said even when it is the default."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme.lower())
    try:
        port = parts.port or default
    except ValueError:  # a port that is not a number names no server of the source's
        return ("", "", None)
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port)


def _media_type(value: Any) -> tuple[str, str]:
    """("text/html", "utf-8") from "text/html; charset=UTF-8"; octet-stream when unsaid."""
    if not isinstance(value, str) or "/" not in value:
        return OCTET_STREAM, "utf-8"
    message = Message()
    message["Content-Type"] = value
    charset = message.get_param("charset")
    return message.get_content_type(), str(charset).lower() if isinstance(charset, str) else "utf-8"
