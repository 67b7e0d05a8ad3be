"""Fetching a patient's record from the sources that hold it, into short-lived snapshots.

`request_refresh` marks what is missing or stale and sends one Celery task per linked source, all
at once; `fetch_link` is what each task does. The web process never waits on a source.
"""

import dataclasses
import datetime
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from celery import group, signature
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.db import models, transaction
from django.utils import timezone

from records import circuit, deadlines, live
from records.categories import parse_categories
from records.metrics import FetchResult, fetch_finished
from records.models import (
    Link,
    Patient,
    Snapshot,
    SourceSystem,
    without_restricted_details_in_items,
)
from records.sources.capabilities import Capabilities, mismatch, read_capabilities
from records.sources.errors import (
    RecordRefused,
    SourceError,
    SourceUnavailable,
    WrongPatientInResponse,
)
from records.sources.fhir_adapter import FetchedCategory, FhirAdapter
from records.sources.fhir_client import FhirClient
from records.sources.gp_connect import NOT_CARRIED, GpConnectAdapter
from records.sources.gp_connect_request import Requester
from records.sources.limits import ResponseLimits

logger = logging.getLogger(__name__)

# Who a look's fetch is asked for, in plain values a task can carry: "user" (their user name),
# "given_name", "family_name", "role" (the role they act in), "organisation_ods", "organisation".
AskedBy = dict[str, str]

CAPABILITIES_SECONDS = 3600
# The task is sent by name: records.tasks wraps this module, so this module cannot import it.
FETCH_TASK = "records.tasks.fetch_source_record"
SWITCHED_OFF = "source is switched off"  # a reader is told; its data is cleared, not kept stale
PAUSED = "source unavailable: paused after repeated failures"
# Said when something other than the source went wrong (a bug, the database refusing a write):
# the category must still end in a stated state, and the details are in the log, not the page.
UNEXPECTED = "could not be read: an error on our side (logged)"
# Said at the heading, after the source's name, when the source named someone else in it.
WRONG_PATIENT = "sent a record about a different person; nothing from it is shown for this patient"


@dataclass
class FetchOutcome:
    """What one attempt at one source achieved, and what is left to try again."""

    fresh: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    remaining: list[str] = field(default_factory=list)
    retry_after: float | None = None
    # How the attempt ended, for the metrics (None: nothing was attempted, the fetch not ours).
    result: FetchResult | None = None
    source_ods_code: str = ""

    @property
    def should_retry(self) -> bool:
        return bool(self.remaining)


def response_limits() -> ResponseLimits:
    """The most one answer from a source may be, from the settings LCR_SOURCE_MAX_*."""
    return ResponseLimits(
        max_bytes=settings.LCR_SOURCE_MAX_BYTES,
        max_decompressed_bytes=settings.LCR_SOURCE_MAX_DECOMPRESSED_BYTES,
        max_depth=settings.LCR_SOURCE_MAX_JSON_DEPTH,
        max_string_chars=settings.LCR_SOURCE_MAX_STRING_CHARS,
        max_containers=settings.LCR_SOURCE_MAX_JSON_CONTAINERS,
    )


def request_refresh(
    *,
    patient: Patient,
    categories: Iterable[str] | None = None,
    force: bool = False,
    exclude_kinds: Iterable[str] = (),
    known: tuple[list[Link], list[Snapshot]] | None = None,
    asked_by: AskedBy | None = None,
) -> list[int]:
    """Ask every linked, enabled source for what is missing or stale; return the link ids asked.

    Safe to call on every look: a category already being fetched, or that failed moments ago,
    is not asked for again, and of two simultaneous calls only one sends each task. `known`: the
    patient's links (sources selected, kinds already excluded) and their snapshots of these
    categories, when the caller has just read them.
    """
    wanted = parse_categories(list(categories or []))
    now = timezone.now()
    if known is None:
        links = list(
            Link.objects.filter(patient=patient)
            .exclude(source__kind__in=list(exclude_kinds))
            .select_related("source")
        )
        snapshots = Snapshot.objects.filter(link__in=links, category__in=wanted)
    else:
        links, snapshots = known
    links = sorted(links, key=lambda link: link.pk)
    existing = {(snap.link_id, snap.category): snap for snap in snapshots}
    due_by_link = {
        link.pk: [c for c in wanted if force or _needs_fetch(existing.get((link.pk, c)), now)]
        for link in links
    }
    paused = circuit.paused_among(
        {link.source_id for link in links if link.source.enabled and due_by_link[link.pk]}
    )
    jobs = []
    for link in links:
        if not link.source.enabled:
            _switched_off(link, wanted, existing)
            continue
        if link.source_id in paused:
            # Nothing is sent; a heading never asked of it says why, rather than reading as empty.
            for category in due_by_link[link.pk]:
                if (link.pk, category) not in existing:
                    _save_failed(link, category, PAUSED, clear_items=True, token=None)
            continue
        due = due_by_link[link.pk]
        token = uuid.uuid4().hex
        claimed = [c for c in due if _claim(link, c, existing.get((link.pk, c)), now, token)]
        if claimed:
            jobs.append((link.pk, claimed, token))
    if jobs:
        transaction.on_commit(lambda: _send(jobs, asked_by), robust=True)
    return [link_id for link_id, _, _ in jobs]


def _send(jobs: list[tuple[int, list[str], str]], asked_by: AskedBy | None = None) -> None:
    limit = settings.LCR_FETCH_SOURCE_BUDGET_SECONDS
    try:
        group(
            signature(FETCH_TASK, args=(link_id, categories, token, asked_by), immutable=True).set(
                time_limit=limit + 15, soft_time_limit=limit + 5
            )
            for link_id, categories, token in jobs
        ).apply_async()
    except Exception:
        logger.exception("could not send fetch tasks to the broker")
        for link_id, categories, token in jobs:
            fail_pending(
                link_id=link_id,
                categories=categories,
                token=token,
                reason="could not reach the task queue",
            )


def _needs_fetch(snapshot: Snapshot | None, now: datetime.datetime) -> bool:
    if snapshot is None:
        return True
    pause = datetime.timedelta(seconds=settings.LCR_FETCH_FAILED_PAUSE_SECONDS)
    if snapshot.status == Snapshot.Status.PENDING:
        if snapshot.deadline_at is None:  # claimed before claims had deadlines and leases
            return snapshot.requested_at < now - overdue_after()
        if deadlines.past_deadline(snapshot, now):
            # It reads as timed out since its deadline: asked again as a failure would be.
            return snapshot.deadline_at < now - pause
        # Lost with its worker: asked again within its deadline, if an attempt is left.
        return deadlines.lease_lost(snapshot, now) and _attempt_left(snapshot)
    if snapshot.status == Snapshot.Status.FAILED:
        return snapshot.updated_at < now - pause
    return is_stale(snapshot, now)


def _attempt_left(snapshot: Snapshot) -> bool:
    return max(snapshot.attempt, 1) < deadlines.attempts_allowed()


def overdue_after() -> datetime.timedelta:
    """How long a request may take before it is presumed lost: every attempt and backoff."""
    attempts = deadlines.attempts_allowed()
    backoff = sum(retry_delay(n) for n in range(settings.LCR_FETCH_MAX_RETRIES))
    seconds = attempts * (settings.LCR_FETCH_SOURCE_BUDGET_SECONDS + 15) + backoff
    return datetime.timedelta(seconds=seconds)


def retry_delay(retries: int, retry_after: float | None = None) -> float:
    """Exponential backoff, capped, and never sooner than the source's Retry-After."""
    backoff = min(
        settings.LCR_FETCH_RETRY_BACKOFF_SECONDS * 2**retries,
        settings.LCR_FETCH_RETRY_BACKOFF_MAX_SECONDS,
    )
    return max(backoff, retry_after or 0.0)


def is_stale(snapshot: Snapshot, now: datetime.datetime | None = None) -> bool:
    """Data older than LCR_SNAPSHOT_FRESH_SECONDS is shown, marked stale, and fetched again."""
    if snapshot.fetched_at is None:
        return True
    fresh_for = datetime.timedelta(seconds=settings.LCR_SNAPSHOT_FRESH_SECONDS)
    return snapshot.fetched_at + fresh_for < (now or timezone.now())


class SourceState(models.TextChoices):
    """What a reader is told of a source's data for a heading, worst first: the order in which a
    source's several headings are summed up as one state. The value is the API's code."""

    UNAVAILABLE = "unavailable", "unavailable"
    LOADING = "loading", "loading"
    REFRESHING = "refreshing", "refreshing"
    STALE = "stale", "stale"
    UP_TO_DATE = "up-to-date", "up to date"

    @property
    def asking(self) -> bool:
        """The source is still being asked: what it will send is not known yet."""
        return self in (SourceState.LOADING, SourceState.REFRESHING)

    @property
    def answered(self) -> bool:
        """What is shown is all the source had when it last answered (stale or not)."""
        return self in (SourceState.STALE, SourceState.UP_TO_DATE)


def state_of(snapshot: Snapshot, now: datetime.datetime | None = None) -> SourceState:
    """What to tell a reader: loading, refreshing, up to date, stale or unavailable (a fetch
    still pending past its look's deadline is unavailable: it timed out)."""
    if deadlines.past_deadline(snapshot, now or timezone.now()):
        return SourceState.UNAVAILABLE
    if snapshot.status == Snapshot.Status.PENDING:
        return SourceState.REFRESHING if snapshot.fetched_at else SourceState.LOADING
    if snapshot.status == Snapshot.Status.FAILED:
        return SourceState.UNAVAILABLE
    return SourceState.STALE if is_stale(snapshot, now) else SourceState.UP_TO_DATE


def _claim(
    link: Link, category: str, snapshot: Snapshot | None, now: datetime.datetime, token: str
) -> bool:
    """Mark a category pending for this request; False if another request got there first.

    A new claim starts the look's budget for the source and a lease; taking again a claim whose
    lease ran out (its worker was lost) keeps the deadline it had, as the next attempt."""
    claim = {
        "request_token": token,
        "deadline_at": deadlines.deadline_for(link.source, now),
        "attempt": 0,
        "lease_until": deadlines.lease_until(now),
    }
    if snapshot is None:
        _, created = Snapshot.objects.get_or_create(
            link=link,
            category=category,
            defaults={
                "requested_at": now,
                "expires_at": now + datetime.timedelta(seconds=settings.LCR_SNAPSHOT_TTL_SECONDS),
                **claim,
            },
        )
        return created
    reason = ""
    lost = deadlines.lease_lost(snapshot, now)
    if lost:
        claim.update(
            deadline_at=snapshot.deadline_at,
            attempt=max(snapshot.attempt, 1) + 1,
            updated_at=now,  # its state changed: an open page's update carries it
        )
        reason = f"{deadlines.RETRYING}{deadlines.WORKER_LOST}"
    # Earlier items stay visible (with their age) while the new fetch runs.
    unchanged = Snapshot.objects.filter(
        pk=snapshot.pk,
        status=snapshot.status,
        requested_at=snapshot.requested_at,
        request_token=snapshot.request_token,
    )
    if lost:  # and still lost: a renewal since it was read means its worker is alive after all
        unchanged = unchanged.filter(lease_until__lte=now)
    claimed = bool(
        unchanged.update(status=Snapshot.Status.PENDING, requested_at=now, reason=reason, **claim)
    )
    if claimed and lost:
        # An open page is told it is being asked again (and why), as it is of a retry.
        _announce(link, [category])
    return claimed


def _switched_off(link: Link, categories: tuple[str, ...], existing: dict) -> None:
    """A switched-off source is not asked, what it said before is no longer shown, and every
    heading asked of it says why (none reads as empty)."""
    for category in categories:
        snapshot = existing.get((link.pk, category))
        if snapshot is None or snapshot.reason != SWITCHED_OFF:
            _save_failed(link, category, SWITCHED_OFF, clear_items=True, token=None)


def fetch_link(
    *,
    link_id: int,
    categories: list[str],
    final_attempt: bool,
    token: str | None = None,
    asked_by: AskedBy | None = None,
    attempt: int = 1,
) -> FetchOutcome:
    """`_fetch_link`, timed and counted by its source and how it ended (records/metrics.py)."""
    started = time.perf_counter()
    outcome = FetchOutcome()
    try:
        _fetch_link(
            outcome,
            link_id=link_id,
            categories=categories,
            final_attempt=final_attempt,
            token=token,
            asked_by=asked_by,
            attempt=attempt,
        )
    except SoftTimeLimitExceeded:
        outcome.result = FetchResult.TIMED_OUT
        raise
    except Exception:
        outcome.result = FetchResult.ERROR
        raise
    finally:
        if outcome.result is not None and outcome.source_ods_code:
            seconds = time.perf_counter() - started
            fetch_finished(
                source_ods_code=outcome.source_ods_code, result=outcome.result, seconds=seconds
            )
    return outcome


def _fetch_link(
    outcome: FetchOutcome,
    *,
    link_id: int,
    categories: list[str],
    final_attempt: bool,
    token: str | None,
    asked_by: AskedBy | None,
    attempt: int,
) -> None:
    """Fetch the given categories of one link from its source and save each as a snapshot.

    Categories fetched are saved at once; if the source becomes unavailable part-way, the rest are
    left pending for a retry, or marked failed with the reason on the final attempt, or when the
    look's deadline leaves no time for another. With a `token`, only snapshots still waiting for
    that request are written, and the attempt has what is left of their deadline. Whatever goes
    wrong with one category, it ends fresh or failed with a reason, never left pending.
    What it achieved, and how the attempt ended, are set on `outcome`.
    """
    started = timezone.now()
    link = Link.objects.select_related("source", "patient").filter(pk=link_id).first()
    if link is None:
        return  # unlinked since it was asked for: nothing to fetch or to show
    source = link.source
    deadline = None
    if token is not None:
        waiting = {
            category: (deadline_at, tried)
            for category, deadline_at, tried in _waiting(link, categories, token).values_list(
                "category", "deadline_at", "attempt"
            )
        }
        if not waiting:
            return  # overtaken (claimed again after a lost lease) or ended: not ours now
        categories = [category for category in categories if category in waiting]
        deadline = min((d for d, _ in waiting.values() if d is not None), default=None)
        # A claim taken again after a lost lease has used attempts of its own: they count.
        attempt = max(attempt, *(tried for _, tried in waiting.values()))
        final_attempt = final_attempt or attempt >= deadlines.attempts_allowed()
        left = deadlines.seconds_left(deadline, started)
        outcome.source_ods_code = source.ods_code
        if left is not None and left < deadlines.MIN_ATTEMPT_SECONDS:
            outcome.result = FetchResult.TIMED_OUT
            _fail(
                link,
                categories,
                deadlines.timed_out_reason(deadlines.look_budget(source)),
                outcome,
                token,
            )
            return
        _waiting(link, categories, token).update(
            attempt=attempt, lease_until=deadlines.lease_until(started)
        )
    outcome.source_ods_code = source.ods_code
    if not source.enabled:
        outcome.result = FetchResult.SWITCHED_OFF
        _fail(link, categories, SWITCHED_OFF, outcome, token, clear_items=True)
        return
    paused = circuit.paused_until(source.pk)
    if paused is not None:
        when = timezone.localtime(paused).strftime("%H:%M:%S")
        reason = f"{PAUSED} until {when}"
        outcome.result = FetchResult.PAUSED
        _fail(link, categories, reason, outcome, token)
        return

    adapter = source_adapter(
        source, categories, asked_by, budget_seconds=deadlines.seconds_left(deadline, started)
    )
    capabilities = _capabilities(source, adapter.client)
    refusal = mismatch(source.interface, capabilities.fhir_version)
    if refusal:
        logger.warning("%s refused: %s", source, refusal)
        outcome.result = FetchResult.REFUSED
        _fail(link, categories, refusal, outcome, token)
        return
    if isinstance(adapter, FhirAdapter):
        adapter.supported_types = capabilities.resource_types
    for index, category in enumerate(categories):
        try:
            fetched = adapter.fetch_category(
                local_id=link.local_id, category=category, nhs_number=link.patient.nhs_number
            )
            with transaction.atomic():  # a refused write leaves the connection usable
                _save_fresh(link, category, fetched, token)
        except SourceUnavailable as exc:
            logger.warning("%s unavailable (%s): %s %s", source, category, exc.reason, exc.detail)
            attempt_of = (attempt, deadline)
            timed_out = exc.reason == deadlines.TIMED_OUT
            outcome.result = FetchResult.TIMED_OUT if timed_out else FetchResult.UNAVAILABLE
            _unavailable(link, categories[index:], exc, final_attempt, outcome, token, attempt_of)
            return
        except WrongPatientInResponse as exc:
            _wrong_patient(link, category, exc)
            _save_failed(link, category, WRONG_PATIENT, clear_items=True, token=token)
            outcome.failed[category] = WRONG_PATIENT
        except RecordRefused as exc:
            # A heading GP Connect cannot carry is expected on every fetch: not worth a warning.
            log = logger.info if exc.reason == NOT_CARRIED else logger.warning
            log("%s refused %s: %s (%s)", source, category, exc.reason, exc.detail)
            _save_failed(link, category, exc.reason, clear_items=True, token=token)
            outcome.failed[category] = exc.reason
        except SourceError as exc:
            logger.warning("%s sent unusable %s: %s (%s)", source, category, exc.reason, exc.detail)
            _save_failed(link, category, exc.reason, clear_items=False, token=token)
            outcome.failed[category] = exc.reason
        except SoftTimeLimitExceeded:
            raise  # the task fails every category still waiting, as timed out
        except Exception:
            logger.exception("could not use %s's %s for link %s", source, category, link.pk)
            _save_failed(link, category, UNEXPECTED, clear_items=False, token=token)
            outcome.failed[category] = UNEXPECTED
        else:
            outcome.fresh.append(category)
    circuit.record_success(source.pk, attempt_started_at=started)
    outcome.result = FetchResult.ANSWERED


def _wrong_patient(link: Link, category: str, exc: WrongPatientInResponse) -> None:
    """Raise it for the source's administrators: the log (ids only, never content) and a count
    on the source, shown on their home page and in the admin."""
    logger.error(
        "%s sent a record about a different person in %s for link %s: %s",
        link.source,
        category,
        link.pk,
        ", ".join(exc.resource_ids[:20]) or exc.detail,
    )
    SourceSystem.objects.filter(pk=link.source_id).update(
        wrong_patient_count=models.F("wrong_patient_count") + 1, wrong_patient_at=timezone.now()
    )


def source_adapter(
    source: SourceSystem,
    categories: list[str],
    asked_by: AskedBy | None = None,
    *,
    budget_seconds: float | None = None,
) -> FhirAdapter | GpConnectAdapter:
    """The adapter for the source's kind of interface, for one fetch of these headings, given
    at most `budget_seconds` (what is left of the look's deadline) in all."""
    budget = settings.LCR_FETCH_SOURCE_BUDGET_SECONDS
    common = {
        "timeout": source.timeout_seconds,
        "budget_seconds": budget if budget_seconds is None else min(budget, budget_seconds),
        "limits": response_limits(),
        "max_per_category": settings.LCR_SOURCE_MAX_RESOURCES_PER_CATEGORY,
        "max_per_look": settings.LCR_SOURCE_MAX_RESOURCES_PER_LOOK,
    }
    if source.interface == SourceSystem.Interface.GP_CONNECT_STRUCTURED:
        return GpConnectAdapter(
            source.base_url,
            **common,
            categories=categories,
            requester=gp_connect_requester(asked_by),
            provider_asid=settings.LCR_GPCONNECT_PROVIDER_ASID,
            signing_key=settings.LCR_GPCONNECT_SIGNING_KEY,
        )
    return FhirAdapter(
        source.base_url,
        **common,
        page_size=settings.LCR_SOURCE_PAGE_SIZE,
        alias_base_urls=source.base_urls[1:],
        patient_search=source.patient_search,
    )


def gp_connect_requester(asked_by: AskedBy | None = None) -> Requester:
    """Who asks, to a GP Connect provider: the record's own system (settings LCR_GPCONNECT_*),
    on behalf of the professional whose look asked and their organisation, when one did (a
    refresh from a command or a schedule names the record itself)."""
    requester = Requester(
        asid=settings.LCR_GPCONNECT_ASID,
        organisation_ods=settings.LCR_GPCONNECT_ORGANISATION_ODS,
        organisation_name=settings.LCR_GPCONNECT_ORGANISATION_NAME,
        practitioner_sds_id=settings.LCR_GPCONNECT_PRACTITIONER_SDS_ID,
    )
    if not asked_by or not asked_by.get("user"):
        return requester
    return dataclasses.replace(
        requester,
        practitioner_local_id=str(asked_by["user"])[:64],
        practitioner_family=str(asked_by.get("family_name") or asked_by["user"])[:100],
        practitioner_given=str(asked_by.get("given_name") or "")[:100],
        organisation_ods=str(asked_by.get("organisation_ods") or requester.organisation_ods)[:10],
        organisation_name=str(asked_by.get("organisation") or requester.organisation_name)[:200],
    )


def _capabilities(source: SourceSystem, client: FhirClient) -> Capabilities:
    """The source's FHIR version and searchable types, from its CapabilityStatement,
    remembered for an hour (a minute when it could not be read, or said nothing)."""
    key = f"lcr:capabilities:v2:{source.pk}:{source.interface}:{source.base_url}"
    known = cache.get(key)
    if known is None:
        try:
            found = read_capabilities(client)
        except SourceError:
            found = Capabilities(fhir_version="", resource_types=None)
        known = {"version": found.fhir_version, "types": sorted(found.resource_types or [])}
        if found.fhir_version and found.fhir_version != source.declared_fhir_version:
            SourceSystem.objects.filter(pk=source.pk).update(
                declared_fhir_version=found.fhir_version
            )
        said = found.fhir_version or found.resource_types
        cache.set(key, known, CAPABILITIES_SECONDS if said else 60)
    return Capabilities(
        fhir_version=known["version"], resource_types=frozenset(known["types"]) or None
    )


def _unavailable(
    link: Link,
    remaining: list[str],
    exc: SourceUnavailable,
    final_attempt: bool,
    outcome: FetchOutcome,
    token: str | None,
    attempt_of: tuple[int, datetime.datetime | None] = (1, None),
) -> None:
    """Retry later what the source could not give now, if an attempt and the time for it are
    left; else fail it with the reason ("timed out after 8 s" when the deadline ended it)."""
    attempt, deadline = attempt_of
    longest = settings.LCR_FETCH_RETRY_AFTER_MAX_SECONDS
    if exc.retry_after is not None and exc.retry_after > longest:
        until = timezone.now() + datetime.timedelta(seconds=exc.retry_after)
        circuit.pause(link.source_id, until, f"asked us to wait ({exc.reason})")
        when = timezone.localtime(until).strftime("%d %b %H:%M")
        _fail(link, remaining, f"source unavailable: asked us to wait until {when}", outcome, token)
        return
    opened = circuit.record_failure(link.source_id, exc.reason)
    now = timezone.now()
    delay = retry_delay(attempt - 1, exc.retry_after)
    left = deadlines.seconds_left(deadline, now)
    no_time = left is not None and left < delay + deadlines.MIN_ATTEMPT_SECONDS
    if final_attempt or opened is not None or no_time:
        reason = f"source unavailable: {exc.reason}"
        if no_time and (exc.reason == deadlines.TIMED_OUT or left <= 0):
            reason = deadlines.timed_out_reason(deadlines.look_budget(link.source))
        _fail(link, remaining, reason, outcome, token)
        return
    # The lease covers the backoff too: the retry is known to be on its way.
    _waiting(link, remaining, token).update(
        reason=f"{deadlines.RETRYING}{exc.reason}",
        attempt=attempt + 1,
        lease_until=deadlines.lease_until(now, delay),
        updated_at=now,  # its state changed: an open page's update carries it
    )
    _announce(link, remaining)
    outcome.remaining = list(remaining)
    outcome.retry_after = exc.retry_after


def _waiting(link: Link, categories: list[str], token: str | None):
    snapshots = Snapshot.objects.filter(link=link, category__in=categories)
    if token is not None:
        snapshots = snapshots.filter(request_token=token, status=Snapshot.Status.PENDING)
    return snapshots


def fail_pending(*, link_id: int, categories: list[str], token: str | None, reason: str) -> None:
    """Give up on categories still waiting for this request (out of time, or never sent): say
    so, and keep older items."""
    link = Link.objects.filter(pk=link_id).first()
    if link is not None:
        # Still pending, even without a token: what this request already saved stays as saved.
        waiting = _waiting(link, categories, token).filter(status=Snapshot.Status.PENDING)
        pending = waiting.values_list("category", flat=True)
        _fail(link, list(pending), reason, FetchOutcome(), token)


def _fail(
    link: Link,
    categories: list[str],
    reason: str,
    outcome: FetchOutcome,
    token: str | None,
    *,
    clear_items: bool = False,
) -> None:
    for category in categories:
        _save_failed(link, category, reason, clear_items=clear_items, token=token)
        outcome.failed[category] = reason


def _announce(link: Link, categories: list[str]) -> None:
    """Tell the patient's open pages that these headings' state changed without a save (a retry
    on its way); the caller marked them updated in the same write, as a save would be."""
    for category in categories:
        live.snapshot_saved(patient_id=link.patient_id, link_id=link.pk, category=category)


def _save(link: Link, category: str, values: dict, token: str | None) -> None:
    """Write one snapshot; with a token, only if it still waits for that very request."""
    now = timezone.now()
    if token is not None:
        _waiting(link, [category], token).update(**values, updated_at=now)
    else:
        Snapshot.objects.update_or_create(
            link=link,
            category=category,
            defaults=values,
            create_defaults={
                "requested_at": now,
                "expires_at": now + datetime.timedelta(seconds=settings.LCR_SNAPSHOT_TTL_SECONDS),
                **values,
            },
        )
    live.snapshot_saved(patient_id=link.patient_id, link_id=link.pk, category=category)


def _save_fresh(link: Link, category: str, fetched: FetchedCategory, token: str | None) -> None:
    now = timezone.now()
    values = {
        "status": Snapshot.Status.FRESH,
        "reason": "",
        # A Patient resource in an item (contained, or sent by an adapter) keeps none of a
        # restricted person's contact details, as the source labels them or the register does.
        "items": without_restricted_details_in_items(
            [item.as_dict() for item in fetched.items], restricted=link.patient.restricted
        ),
        "item_count": len(fetched.items),
        "withheld_count": fetched.withheld,
        "withheld_reason": fetched.withheld_reason[:500],
        "fetched_at": now,
        "expires_at": now + datetime.timedelta(seconds=settings.LCR_SNAPSHOT_TTL_SECONDS),
    }
    _save(link, category, values, token)


def _save_failed(
    link: Link, category: str, reason: str, *, clear_items: bool, token: str | None
) -> None:
    """Mark a category failed; earlier good items stay (with their age) unless now suspect."""
    values: dict = {"status": Snapshot.Status.FAILED, "reason": reason[:300]}
    if clear_items:
        values.update(items=[], item_count=0, withheld_count=0, withheld_reason="", fetched_at=None)
    _save(link, category, values, token)


OVERDUE_REASON = "no answer from the task worker in time"


def fail_overdue_fetches(now: datetime.datetime | None = None) -> int:
    """Periodic: end every fetch still pending past its deadline (its task was lost, or the worker
    died with it) with a stated reason, so that no source stays "Refreshing" for ever. Older items
    stay, with their age; the next look asks again. A late answer to such a request is not saved
    (it no longer waits), and the look after that fetches afresh."""
    now = now or timezone.now()
    ended = Snapshot.objects.filter(
        status=Snapshot.Status.PENDING,
        deadline_at__isnull=True,
        requested_at__lt=now - overdue_after(),
    ).update(status=Snapshot.Status.FAILED, reason=OVERDUE_REASON, updated_at=now)
    # Those with a deadline read as timed out since it passed; this makes it so for good, so
    # that the next look asks again after the usual pause. A few at a time: one per source.
    for source in SourceSystem.objects.filter(
        links__snapshots__status=Snapshot.Status.PENDING,
        links__snapshots__deadline_at__lt=now,
    ).distinct():
        ended += Snapshot.objects.filter(
            link__source=source, status=Snapshot.Status.PENDING, deadline_at__lt=now
        ).update(
            status=Snapshot.Status.FAILED,
            reason=deadlines.timed_out_reason(deadlines.look_budget(source)),
            updated_at=now,
        )
    return ended


def reclaim_lost_fetches(now: datetime.datetime | None = None) -> int:
    """Periodic (every LCR_FETCH_LEASE_SWEEP_SECONDS): ask again every fetch whose lease ran out
    before its deadline, its worker lost (killed, or the task never delivered), keeping that
    deadline, as the next look would. Returns how many headings were claimed again."""
    now = now or timezone.now()
    lost = (
        Snapshot.objects.filter(
            status=Snapshot.Status.PENDING, lease_until__lte=now, deadline_at__gt=now
        )
        .select_related("link__source")
        .order_by("deadline_at")[:500]
    )
    claimed: dict[int, list[str]] = {}
    tokens: dict[int, str] = {}
    for snapshot in lost:
        if not _attempt_left(snapshot):
            continue  # it will read as timed out at its deadline
        token = tokens.setdefault(snapshot.link_id, uuid.uuid4().hex)
        if _claim(snapshot.link, snapshot.category, snapshot, now, token):
            claimed.setdefault(snapshot.link_id, []).append(snapshot.category)
    jobs = [(link_id, categories, tokens[link_id]) for link_id, categories in claimed.items()]
    if jobs:
        _send(jobs)
    return sum(len(categories) for categories in claimed.values())


def purge_expired_snapshots() -> int:
    """Delete every snapshot past its expiry: the record is a view, not a copy."""
    deleted, _ = Snapshot.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
