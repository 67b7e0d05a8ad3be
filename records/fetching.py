"""Fetching a patient's record from the sources that hold it, into short-lived snapshots.

`request_refresh` marks what is missing or stale and sends one Celery task per linked source, all
at once; `fetch_link` is what each task does. The web process never waits on a source.
"""

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from celery import group
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from records import circuit
from records.categories import parse_categories
from records.models import Link, Patient, Snapshot
from records.sources.errors import SourceError, SourceUnavailable, WrongPatientInResponse
from records.sources.fhir_adapter import FhirAdapter
from records.sources.view_items import ViewItem

logger = logging.getLogger(__name__)


@dataclass
class FetchOutcome:
    """What one attempt at one source achieved, and what is left to try again."""

    fresh: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    remaining: list[str] = field(default_factory=list)
    retry_after: float | None = None

    @property
    def should_retry(self) -> bool:
        return bool(self.remaining)


def request_refresh(
    *, patient: Patient, categories: Iterable[str] | None = None, force: bool = False
) -> list[int]:
    """Ask every linked, enabled source for what is missing or stale; return the link ids asked.

    A category already being fetched is not asked for twice unless its request is overdue.
    """
    from records.tasks import fetch_source_record

    wanted = parse_categories(list(categories or []))
    now = timezone.now()
    links = list(
        Link.objects.filter(patient=patient, source__enabled=True)
        .select_related("source")
        .order_by("pk")
    )
    existing = {
        (snap.link_id, snap.category): snap
        for snap in Snapshot.objects.filter(link__in=links, category__in=wanted).only(
            "link_id", "category", "status", "fetched_at", "requested_at"
        )
    }
    jobs = []
    for link in links:
        due = [c for c in wanted if force or _needs_fetch(existing.get((link.pk, c)), now)]
        if not due:
            continue
        _mark_pending(link, due, now, existing)
        budget = settings.LCR_FETCH_SOURCE_BUDGET_SECONDS
        jobs.append(
            fetch_source_record.si(link.pk, due).set(
                time_limit=budget + 15, soft_time_limit=budget + 5
            )
        )
    if jobs:
        transaction.on_commit(lambda: group(jobs).apply_async())
    return [job.args[0] for job in jobs]


def _needs_fetch(snapshot: Snapshot | None, now: datetime.datetime) -> bool:
    if snapshot is None:
        return True
    if snapshot.status == Snapshot.Status.PENDING:
        overdue = datetime.timedelta(seconds=settings.LCR_FETCH_OVERDUE_SECONDS)
        return snapshot.requested_at < now - overdue
    return is_stale(snapshot, now) or snapshot.status == Snapshot.Status.FAILED


def is_stale(snapshot: Snapshot, now: datetime.datetime | None = None) -> bool:
    """Data older than LCR_SNAPSHOT_FRESH_SECONDS is shown, marked stale, and fetched again."""
    if snapshot.fetched_at is None:
        return True
    fresh_for = datetime.timedelta(seconds=settings.LCR_SNAPSHOT_FRESH_SECONDS)
    return snapshot.fetched_at + fresh_for < (now or timezone.now())


def _mark_pending(
    link: Link, categories: list[str], now: datetime.datetime, existing: dict
) -> None:
    expires = now + datetime.timedelta(seconds=settings.LCR_SNAPSHOT_TTL_SECONDS)
    for category in categories:
        snapshot = existing.get((link.pk, category))
        if snapshot is None:
            Snapshot.objects.get_or_create(
                link=link,
                category=category,
                defaults={"requested_at": now, "expires_at": expires},
            )
        else:
            # Earlier items stay visible (marked by their age) while the new fetch runs.
            Snapshot.objects.filter(pk=snapshot.pk).update(
                status=Snapshot.Status.PENDING, requested_at=now, reason=""
            )


def fetch_link(*, link_id: int, categories: list[str], final_attempt: bool) -> FetchOutcome:
    """Fetch the given categories of one link from its source and save each as a snapshot.

    Categories fetched are saved at once; if the source becomes unavailable part-way, the rest are
    left pending for a retry, or marked failed with the reason on the final attempt.
    """
    outcome = FetchOutcome()
    link = Link.objects.select_related("source").filter(pk=link_id).first()
    if link is None:
        return outcome  # unlinked since it was asked for: nothing to fetch or to show
    source = link.source
    if not source.enabled:
        _fail(link, categories, "source is switched off", outcome)
        return outcome
    paused = circuit.paused_until(source.pk)
    if paused is not None:
        when = timezone.localtime(paused).strftime("%H:%M:%S")
        reason = f"source unavailable: paused after repeated failures until {when}"
        _fail(link, categories, reason, outcome)
        return outcome

    adapter = FhirAdapter(
        source.base_url,
        timeout=source.timeout_seconds,
        budget_seconds=settings.LCR_FETCH_SOURCE_BUDGET_SECONDS,
        page_size=settings.LCR_SOURCE_PAGE_SIZE,
    )
    for index, category in enumerate(categories):
        try:
            items = adapter.fetch_category(local_id=link.local_id, category=category)
        except SourceUnavailable as exc:
            logger.warning("%s unavailable (%s): %s %s", source, category, exc.reason, exc.detail)
            _unavailable(link, categories[index:], exc, final_attempt, outcome)
            return outcome
        except WrongPatientInResponse as exc:
            logger.warning("%s sent the wrong patient for link %s: %s", source, link.pk, exc.detail)
            _save_failed(link, category, exc.reason, clear_items=True)
            outcome.failed[category] = exc.reason
        except SourceError as exc:
            logger.warning("%s sent unusable %s: %s (%s)", source, category, exc.reason, exc.detail)
            _save_failed(link, category, exc.reason, clear_items=False)
            outcome.failed[category] = exc.reason
        else:
            _save_fresh(link, category, items)
            outcome.fresh.append(category)
    circuit.record_success(source.pk)
    return outcome


def _unavailable(
    link: Link,
    remaining: list[str],
    exc: SourceUnavailable,
    final_attempt: bool,
    outcome: FetchOutcome,
) -> None:
    opened = circuit.record_failure(link.source_id, exc.reason)
    if final_attempt or opened is not None:
        reason = f"source unavailable: {exc.reason}"
        _fail(link, remaining, reason, outcome)
        return
    Snapshot.objects.filter(link=link, category__in=remaining).update(
        reason=f"retrying: {exc.reason}"
    )
    outcome.remaining = list(remaining)
    outcome.retry_after = exc.retry_after


def fail_pending(*, link_id: int, categories: list[str], reason: str) -> None:
    """Give up on categories still waiting (the task ran out of time): say so, keep older items."""
    link = Link.objects.filter(pk=link_id).first()
    if link is not None:
        pending = Snapshot.objects.filter(
            link=link, category__in=categories, status=Snapshot.Status.PENDING
        ).values_list("category", flat=True)
        _fail(link, list(pending), reason, FetchOutcome())


def _fail(link: Link, categories: list[str], reason: str, outcome: FetchOutcome) -> None:
    for category in categories:
        _save_failed(link, category, reason, clear_items=False)
        outcome.failed[category] = reason


def _save_fresh(link: Link, category: str, items: list[ViewItem]) -> None:
    now = timezone.now()
    Snapshot.objects.update_or_create(
        link=link,
        category=category,
        defaults={
            "status": Snapshot.Status.FRESH,
            "reason": "",
            "items": [item.as_dict() for item in items],
            "item_count": len(items),
            "fetched_at": now,
            "requested_at": now,
            "expires_at": now + datetime.timedelta(seconds=settings.LCR_SNAPSHOT_TTL_SECONDS),
        },
    )


def _save_failed(link: Link, category: str, reason: str, *, clear_items: bool) -> None:
    """Mark a category failed; earlier good items stay (with their age) unless now suspect."""
    now = timezone.now()
    defaults: dict = {"status": Snapshot.Status.FAILED, "reason": reason[:300]}
    if clear_items:
        defaults.update(items=[], item_count=0, fetched_at=None)
    Snapshot.objects.update_or_create(
        link=link,
        category=category,
        defaults=defaults,
        create_defaults={
            **defaults,
            "requested_at": now,
            "expires_at": now + datetime.timedelta(seconds=settings.LCR_SNAPSHOT_TTL_SECONDS),
        },
    )


def purge_expired_snapshots() -> int:
    """Delete every snapshot past its expiry: the record is a view, not a copy."""
    deleted, _ = Snapshot.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
