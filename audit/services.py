"""Writing the audit trail: one access event per look, appended to its hash chain.

Called by care_record.reading.read_record inside the same transaction as the read, so that if
the event cannot be written, the read fails and nothing is shown.
"""

import datetime
import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import DatabaseError, transaction
from django.db.models import Case, Value, When
from django.utils import timezone

from access.models import AccessBasis
from access.policy import Actor
from audit.chain import content_of, event_hash
from audit.exceptions import AuditUnavailable
from audit.metrics import access_events_written, audit_write_failed
from audit.models import (
    DETAILS,
    AccessEvent,
    ChainHead,
    Channel,
    LookUpdate,
    SearchEvent,
    SubjectAccessRequest,
)
from records.models import Patient

logger = logging.getLogger(__name__)
# How long a privacy officer's review of one person stays one look (docs/audit.md).
PRIVACY_REVIEW_MINUTES = 15


@dataclass(frozen=True)
class RequestContext:
    """Where a look came from: filled in by the web or API surface, empty for commands."""

    ip_address: str | None = None
    user_agent: str = ""
    request_id: str = ""


# No savepoint of its own: inside read_record's transaction a failure here fails the whole read
# (nothing shown), and a savepoint would only add two round trips to every look.
@transaction.atomic(savepoint=False)
def record_access(
    *,
    user: AbstractBaseUser,
    team,
    role: str | None,
    patient,
    categories: tuple[str, ...],
    resource_ids: list[str],
    basis: AccessBasis,
    relationship_id: int | None,
    break_glass_id: int | None,
    channel: Channel,
    purpose: str,
    context: RequestContext,
    client_id: str = "",
    end_user: str = "",
) -> AccessEvent:
    """Append one access event to its chain (the chain's head row is locked while we do)."""
    chain = patient.pk % settings.LCR_AUDIT_CHAINS
    head = ChainHead.objects.select_for_update().filter(chain=chain).first()
    if head is None:  # the chain's first event
        ChainHead.objects.get_or_create(chain=chain)
        head = ChainHead.objects.select_for_update().get(chain=chain)
    event = _next_in_chain(
        head,
        occurred_at=timezone.now(),
        user=user,
        team=team,
        role=role,
        client_id=client_id,
        end_user=end_user,
        patient=patient,
        categories=list(categories),
        resource_ids=resource_ids,
        basis=basis,
        relationship_id=relationship_id,
        break_glass_id=break_glass_id,
        channel=channel,
        purpose=purpose,
        context=context,
    )
    event.save()
    ChainHead.objects.filter(chain=chain).update(sequence=event.sequence, hash=event.hash)
    access_events_written(channel=channel, categories=event.categories)
    return event


def _next_in_chain(head: ChainHead, *, user, team, role, end_user: str, context, **fields):
    """The event that follows `head` in its chain, hashed (not yet saved): one definition of
    what an access event holds, for a look and for a page of looks alike."""
    event = AccessEvent(
        chain=head.chain,
        sequence=head.sequence + 1,
        user=user,
        username=user.get_username(),
        end_user=end_user[:200],
        team_id=team.pk if team else None,
        team_name=team.name if team else "",
        organisation_ods_code=team.ods_code if team else "",
        role=role or "",
        ip_address=context.ip_address,
        user_agent=context.user_agent[:300],
        request_id=context.request_id[:64],
        previous_hash=head.hash,
        **fields,
    )
    event.hash = event_hash(head.hash, content_of(event))
    return event


def record_look_update(*, look_id: int, resource_ids: list[str]) -> LookUpdate | None:
    """Name what an open look's update shows that the look has not named yet (its access event,
    its earlier updates); nothing is written when it shows nothing new."""
    named = set(AccessEvent.objects.filter(pk=look_id).values_list("resource_ids", flat=True)[0])
    for earlier in LookUpdate.objects.filter(look_id=look_id).values_list(
        "resource_ids", flat=True
    ):
        named.update(earlier)
    new = [resource for resource in resource_ids if resource not in named]
    if not new:
        return None
    return LookUpdate.objects.create(look_id=look_id, occurred_at=timezone.now(), resource_ids=new)


def record_search(
    *,
    user: AbstractBaseUser,
    team,
    role: str | None,
    purpose: str,
    query: str,
    found,
    channel: Channel,
    context: RequestContext,
) -> SearchEvent:
    """One search, whether or not it found anyone (append-only; not chained)."""
    return SearchEvent.objects.create(
        occurred_at=timezone.now(),
        user=user,
        username=user.get_username(),
        team_name=team.name if team else "",
        organisation_ods_code=team.ods_code if team else "",
        role=role or "",
        purpose=purpose,
        query=query[:200],
        found=found,
        channel=channel,
        ip_address=context.ip_address,
        request_id=context.request_id,
    )


def record_look_at_details(
    *,
    actor: Actor,
    patient: Patient,
    basis: AccessBasis,
    channel: Channel = Channel.WEB,
    context: RequestContext | None = None,
) -> None:
    """An administrator's or privacy officer's look at who a patient is (their details, not their
    record), after their own page has checked their role: recorded as any look is, fail closed.
    A privacy officer working through one report (its pages, filters and files) makes one look
    of it: a privacy review of the same person by the same officer, for the same team, begun in
    the last PRIVACY_REVIEW_MINUTES, is that look still open (as a record page's updates are).
    """
    try:
        if basis == AccessBasis.PRIVACY_REVIEW and _review_still_open(actor, patient, channel):
            return
        record_access(
            user=actor.user,
            team=actor.team,
            role=actor.role,
            patient=patient,
            client_id=actor.client_id or "",
            end_user=actor.end_user,
            categories=(DETAILS,),
            resource_ids=[],
            basis=basis,
            relationship_id=None,
            break_glass_id=None,
            channel=channel,
            purpose=basis,
            context=context or RequestContext(),
        )
    except DatabaseError as exc:
        logger.exception("could not record a look at patient %s; nothing shown", patient.pk)
        audit_write_failed(what="look_at_details")
        raise AuditUnavailable("the look could not be recorded") from exc


def _review_still_open(actor: Actor, patient: Patient, channel: Channel) -> bool:
    since = timezone.now() - datetime.timedelta(minutes=PRIVACY_REVIEW_MINUTES)
    return AccessEvent.objects.filter(
        patient=patient,
        occurred_at__gte=since,
        user_id=actor.user.pk,
        team_id=actor.team.pk if actor.team else None,
        basis=AccessBasis.PRIVACY_REVIEW,
        channel=channel,
    ).exists()


@transaction.atomic
def record_looks_at_details(
    *,
    actor: Actor,
    patients: list[Patient],
    basis: AccessBasis,
    channel: Channel = Channel.WEB,
    context: RequestContext | None = None,
) -> list[AccessEvent]:
    """A privacy officer's look at who several patients are at once (a page that names them:
    an alert's evidence): one access event for each, as record_look_at_details writes, all or
    none. The chains' heads are locked in one query, in chain order (so two such pages never
    wait on each other in a circle), the events inserted in one and the heads moved in one, so
    the page costs the same few queries whatever it names."""
    unique = list({patient.pk: patient for patient in patients}.values())
    if not unique:
        return []
    context = context or RequestContext()
    try:
        chains = sorted({patient.pk % settings.LCR_AUDIT_CHAINS for patient in unique})
        heads = _locked_heads(chains)
        now = timezone.now()
        events = []
        for patient in sorted(unique, key=lambda patient: patient.pk):
            head = heads[patient.pk % settings.LCR_AUDIT_CHAINS]
            event = _next_in_chain(
                head,
                occurred_at=now,
                user=actor.user,
                team=actor.team,
                role=actor.role,
                client_id=actor.client_id or "",
                end_user=actor.end_user,
                patient=patient,
                categories=[DETAILS],
                resource_ids=[],
                basis=basis,
                relationship_id=None,
                break_glass_id=None,
                channel=channel,
                purpose=basis,
                context=context,
            )
            head.sequence, head.hash = event.sequence, event.hash
            events.append(event)
        AccessEvent.objects.bulk_create(events)
        access_events_written(channel=channel, categories=[DETAILS], count=len(events))
        ChainHead.objects.filter(chain__in=chains).update(
            sequence=Case(*(When(chain=c, then=Value(h.sequence)) for c, h in heads.items())),
            hash=Case(*(When(chain=c, then=Value(h.hash)) for c, h in heads.items())),
        )
    except DatabaseError as exc:
        logger.exception("could not record looks at %s patients; nothing shown", len(unique))
        audit_write_failed(what="looks_at_details")
        raise AuditUnavailable("the looks could not be recorded") from exc
    return events


def _locked_heads(chains: list[int]) -> dict[int, ChainHead]:
    heads = {
        head.chain: head
        for head in ChainHead.objects.select_for_update().filter(chain__in=chains).order_by("chain")
    }
    missing = [chain for chain in chains if chain not in heads]
    if missing:  # those chains' first events
        for chain in missing:
            ChainHead.objects.get_or_create(chain=chain)
        heads.update(
            {
                head.chain: head
                for head in ChainHead.objects.select_for_update()
                .filter(chain__in=missing)
                .order_by("chain")
            }
        )
    return heads


def record_subject_access_request(
    *,
    patient: Patient,
    actor: Actor,
    requested_by: str,
    requester_name: str,
    requester_authority: str,
    received_on: datetime.date,
    filters: dict,
    format: str,
    looks: int,
    sent_to: str,
    file_name: str,
    content: bytes,
) -> SubjectAccessRequest:
    """A subject access request answered with this file: who asked, when it came, who produced
    the file, for whom, with which filters, how many looks it lists, and its SHA-256 (so that
    the copy sent can be told from any other)."""
    return SubjectAccessRequest.objects.create(
        patient=patient,
        requested_by=requested_by,
        requester_name=requester_name,
        requester_authority=requester_authority,
        received_on=received_on,
        recorded_by=actor.user,
        recorded_by_username=actor.user.get_username(),
        filters=filters,
        format=format,
        looks=looks,
        sent_to=sent_to,
        produced_at=timezone.now(),
        file_name=file_name,
        file_sha256=hashlib.sha256(content).hexdigest(),
    )
