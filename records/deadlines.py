"""How long one look may wait for one source, the lease on a fetch's claim, and what a reader is
told while a fetch runs: "Asking", "Retrying (2 of 3): server error 500", "Timed out after 8 s".

Every claim of a heading carries the look's deadline (the source's budget from when it was asked)
and a lease the worker renews while it works. Past the deadline the heading reads as timed out,
whatever the worker is still doing; a lease that runs out first means the fetch was lost with its
worker, and it is claimed again (records.fetching) with the deadline it had.
"""

import contextlib
import copy
import dataclasses
import datetime
import logging
import threading
from collections.abc import Iterator

from django.conf import settings
from django.db import connection
from django.utils import timezone
from django.utils.timesince import timesince

from records.models import Snapshot, SourceSystem

logger = logging.getLogger(__name__)

# Not worth starting an attempt with less than this left of the look's budget: it would time out.
MIN_ATTEMPT_SECONDS = 1.0
RETRYING = "retrying: "  # a pending snapshot's reason while it waits for its next attempt
TIMED_OUT = "timed out"  # the adapters' reason for a request or budget that ran out
# Said (as the retry's reason) when a claim is taken again because its worker stopped renewing it.
WORKER_LOST = "the task worker fetching it stopped"


def look_budget(source: SourceSystem) -> float:
    """The source's budget for one look, every attempt and backoff included, in seconds."""
    return source.look_budget_seconds or settings.LCR_FETCH_LOOK_BUDGET_SECONDS


def deadline_for(source: SourceSystem, now: datetime.datetime) -> datetime.datetime:
    return now + datetime.timedelta(seconds=look_budget(source))


def lease_until(now: datetime.datetime, extra_seconds: float = 0.0) -> datetime.datetime:
    """A lease from now: LCR_FETCH_LEASE_SECONDS, plus any wait the holder knows of (a backoff)."""
    return now + datetime.timedelta(seconds=settings.LCR_FETCH_LEASE_SECONDS + extra_seconds)


def attempts_allowed() -> int:
    return settings.LCR_FETCH_MAX_RETRIES + 1


def seconds_left(deadline_at: datetime.datetime | None, now: datetime.datetime) -> float | None:
    """What is left of a look's budget (never below 0), or None for a claim without one."""
    if deadline_at is None:
        return None
    return max((deadline_at - now).total_seconds(), 0.0)


def past_deadline(snapshot: Snapshot, now: datetime.datetime) -> bool:
    """A fetch still pending once its look's budget has run out: the reader is told it timed out."""
    return (
        snapshot.status == Snapshot.Status.PENDING
        and snapshot.deadline_at is not None
        and snapshot.deadline_at <= now
    )


def lease_lost(snapshot: Snapshot, now: datetime.datetime) -> bool:
    """A fetch pending within its deadline whose worker stopped renewing its lease: lost with its
    worker (killed, or the task never delivered), so it is to be asked again."""
    return (
        snapshot.status == Snapshot.Status.PENDING
        and snapshot.lease_until is not None
        and snapshot.lease_until <= now
        and not past_deadline(snapshot, now)
    )


def timed_out_reason(budget_seconds: float) -> str:
    return f"source unavailable: {TIMED_OUT} after {budget_seconds:g} s"


def is_timed_out(reason: str) -> bool:
    """The look's deadline ended it (not a last attempt's own request timing out)."""
    return reason.startswith(f"source unavailable: {TIMED_OUT} after ")


def as_seen(snapshot: Snapshot, now: datetime.datetime, budget_seconds: float) -> Snapshot:
    """The snapshot as a reader must be told of it now: a fetch pending past its deadline is shown
    as failed, timed out (a copy; nothing is saved), with what the source sent before."""
    if not past_deadline(snapshot, now):
        return snapshot
    seen = copy.copy(snapshot)
    seen.status = Snapshot.Status.FAILED
    seen.reason = timed_out_reason(budget_seconds)
    return seen


@dataclasses.dataclass(frozen=True)
class StateWords:
    """A fetch's state in a reader's words: `label` (the tag) then `detail`, which follows it."""

    label: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.label}{self.detail}"

    @property
    def brief(self) -> str:
        """Without what is shown meanwhile: "Timed out after 8 s", "Retrying (2 of 3)"."""
        return f"{self.label}{self.detail.split(':', 1)[0]}"


def _ago(when: datetime.datetime, now: datetime.datetime) -> str:
    if now - when < datetime.timedelta(minutes=1):
        return "just now"
    return f"{timesince(when, now)} ago"


def asking_words(
    *,
    attempt: int,
    retry_reason: str,
    fetched_at: datetime.datetime | None,
    now: datetime.datetime,
    attempts: int | None = None,
) -> StateWords:
    """A fetch under way: "Asking", or "Retrying (2 of 3): server error 500" once an attempt has
    failed; either with what the source sent before, and how long ago."""
    earlier = f"showing what it sent {_ago(fetched_at, now)}" if fetched_at else ""
    if attempt < 2:
        return StateWords("Asking", f": {earlier}" if earlier else "")
    detail = "; ".join(part for part in (retry_reason.removeprefix(RETRYING), earlier) if part)
    label = f"Retrying ({attempt} of {max(attempts or attempts_allowed(), attempt)})"
    return StateWords(label, f": {detail}" if detail else "")


def timed_out_words(
    *, budget_seconds: float, fetched_at: datetime.datetime | None, now: datetime.datetime
) -> StateWords:
    """ "Timed out after 8 s: showing what it sent 20 minutes ago" (or "nothing to show")."""
    earlier = f"showing what it sent {_ago(fetched_at, now)}" if fetched_at else "nothing to show"
    return StateWords("Timed out", f" after {budget_seconds:g} s: {earlier}")


def words_for(
    snapshot: Snapshot | None, now: datetime.datetime, budget_seconds: float
) -> StateWords | None:
    """The words for a snapshot still being asked, or timed out (as `as_seen` gives it); None for
    any other state, which the page words as before (up to date, stale, unavailable)."""
    if snapshot is None:
        return StateWords("Asking")
    if snapshot.status == Snapshot.Status.PENDING and not past_deadline(snapshot, now):
        return asking_words(
            attempt=snapshot.attempt,
            retry_reason=snapshot.reason,
            fetched_at=snapshot.fetched_at,
            now=now,
        )
    if past_deadline(snapshot, now) or (
        snapshot.status == Snapshot.Status.FAILED and is_timed_out(snapshot.reason)
    ):
        return timed_out_words(
            budget_seconds=budget_seconds, fetched_at=snapshot.fetched_at, now=now
        )
    return None


def renew(*, link_id: int, categories: list[str], token: str, now: datetime.datetime) -> int:
    """Extend the lease of this request's categories still pending; how many were renewed."""
    return Snapshot.objects.filter(
        link_id=link_id,
        category__in=categories,
        request_token=token,
        status=Snapshot.Status.PENDING,
    ).update(lease_until=lease_until(now))


@contextlib.contextmanager
def leased(*, link_id: int, categories: list[str], token: str | None) -> Iterator[None]:
    """Hold the lease of a fetch while the block runs: a thread renews it every third of
    LCR_FETCH_LEASE_SECONDS, so a request hanging on its source keeps it, and a process killed
    mid-fetch loses it within one lease."""
    if token is None:
        yield
        return
    stop = threading.Event()
    interval = settings.LCR_FETCH_LEASE_SECONDS / 3

    def keep_renewing() -> None:
        try:
            while not stop.wait(interval):
                try:
                    renew(link_id=link_id, categories=categories, token=token, now=timezone.now())
                except Exception:
                    # One failed renewal (the database busy) is tried again at the next beat: a
                    # lease left to run out would have a live fetch taken away from it.
                    logger.exception("could not renew the lease of a fetch of link %s", link_id)
        finally:
            connection.close()  # this thread's own connection

    renewer = threading.Thread(target=keep_renewing, name=f"lease-{link_id}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join(timeout=interval + 5)
