"""read_document: the read path for one document of a patient's record (a letter, a discharge
summary), read_record's sibling: authorise, fetch it from its source, record the look, show it.

A document is opened only as the record lists it: one of the DocumentReferences a snapshot of
the patient's source holds, and only if this look may see it (its heading, its source's kind, its
sensitivity), so opening a document can never show more than the record itself would. Its
attachment is fetched from the source there and then, within the source's budget and the size
limit (LCR_DOCUMENT_MAX_BYTES), and never kept. One access event names the document.
"""

import dataclasses
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import DatabaseError, transaction

from access.exceptions import AccessDenied
from access.models import AccessBasis
from access.policy import DIRECT_CARE, Actor, Decision, decide
from access.sensitivity import SENSITIVE_WARNING, sensitive_codes, sensitivities_of
from audit.exceptions import AuditUnavailable
from audit.metrics import audit_write_failed
from audit.models import Channel
from audit.services import RequestContext
from care_record.reading import hidden_source_kinds, record_look
from records import deadlines
from records.categories import Category
from records.models import Link, Patient, Snapshot, SourceSystem
from records.sources.attachments import (
    Attachment,
    DocumentTooLarge,
    describe_attachment,
    fetch_attachment,
)
from records.sources.errors import SourceError
from records.stored_items import stored_resource

logger = logging.getLogger(__name__)

NOT_SERVED_BY_INTERFACE = "this source's interface does not serve documents"
SWITCHED_OFF = "the source is switched off"


class DocumentNotListed(Exception):
    """The record, as last read, lists no such document for this look (gone from the source's
    snapshot, or never there). Said without a word about the patient."""


@dataclass
class DocumentView:
    """One look at one document: the record's line for it, and its attachment with the document
    read, or `problem` saying why it could not be (and the attachment as far as it is known)."""

    patient: Patient
    decision: Decision
    source: SourceSystem
    item: dict  # the record's line for the document (title, date, status, source's resource)
    attachment: Attachment | None
    problem: str = ""
    sensitive_warning: str = ""

    @property
    def resource_id(self) -> str:
        return f"{self.source.ods_code}/DocumentReference/{self.item['resource_id']}"


def read_document(
    *,
    actor: Actor,
    patient: Patient,
    source_ods_code: str,
    document_id: str,
    channel: Channel,
    purpose: str = DIRECT_CARE,
    context: RequestContext | None = None,
) -> DocumentView:
    """This document as this actor may see it now; AccessDenied when they may not see the
    patient's documents at all, DocumentNotListed when the record does not list it for them,
    AuditUnavailable if the look could not be recorded (then nothing is shown)."""
    decision = decide(actor, patient, [Category.DOCUMENTS], purpose)
    if not decision.allowed or Category.DOCUMENTS not in decision.categories:
        raise AccessDenied(decision.why_not or "this role does not see letters and documents")
    link = (
        Link.objects.filter(patient=patient, source__ods_code=source_ods_code)
        .select_related("source")
        .first()
    )
    if link is None or link.source.kind in hidden_source_kinds(decision):
        raise DocumentNotListed(source_ods_code)
    item, found = _listed_item(link, document_id, decision)
    view = DocumentView(
        patient=patient,
        decision=decision,
        source=link.source,
        item=item,
        attachment=None,
        sensitive_warning=SENSITIVE_WARNING
        if found and decision.basis == AccessBasis.BREAK_GLASS
        else "",
    )
    _fetch(view)  # outside any transaction: a source may take seconds, the database must not wait
    try:
        with transaction.atomic():
            record_look(
                actor=actor,
                patient=patient,
                decision=decision,
                categories=(Category.DOCUMENTS.value,),
                resource_ids=[view.resource_id],
                channel=channel,
                context=context,
            )
    except DatabaseError as exc:
        logger.exception("could not record a look at a document of patient %s", patient.pk)
        audit_write_failed(what="document_look")
        raise AuditUnavailable("the look could not be recorded") from exc
    return view


def _listed_item(link: Link, document_id: str, decision: Decision) -> tuple[dict, frozenset]:
    """The record's line for the document, and its sensitivities; DocumentNotListed when the
    source's snapshot has no such DocumentReference or this look may not see it."""
    snapshot = Snapshot.objects.filter(link=link, category=Category.DOCUMENTS).first()
    items = snapshot.items if snapshot is not None else []
    for item in items:
        if item.get("resource_type") == "DocumentReference" and item.get("resource_id") == (
            document_id
        ):
            found = sensitivities_of(item, sensitive_codes())
            if not found <= decision.sensitivities:
                raise DocumentNotListed(document_id)
            return item, found
    raise DocumentNotListed(document_id)


def _fetch(view: DocumentView) -> None:
    source = view.source
    if source.interface != SourceSystem.Interface.FHIR_R4_SEARCH:
        view.problem = NOT_SERVED_BY_INTERFACE
        return
    if not source.enabled:
        view.problem = SWITCHED_OFF
        return
    try:
        view.attachment = describe_attachment(
            stored_resource(view.item) or {}, base_url=source.base_url
        )
        view.attachment = fetch_attachment(
            view.attachment,
            base_urls=source.base_urls,
            timeout=source.timeout_seconds,
            budget_seconds=deadlines.look_budget(source),
            max_bytes=settings.LCR_DOCUMENT_MAX_BYTES,
        )
    except DocumentTooLarge as exc:
        view.problem = exc.reason
        if exc.size and view.attachment is not None:
            view.attachment = dataclasses.replace(view.attachment, size=exc.size)
    except SourceError as exc:
        logger.warning(
            "document %s could not be fetched: %s (%s)", view.resource_id, exc, exc.detail
        )
        view.problem = exc.reason
