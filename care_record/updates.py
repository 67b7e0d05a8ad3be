"""Live updates of an open record page: pushed (server-sent events) as each source's answer is
saved, or fetched by the page's fallback poll, always as part of the look the page began.

Each update is read through read_record continuing that look (authorised again, no new access
event) and carries only what changed: the sources' states, the summary, each heading's state in
the navigation, and which headings' snapshots were saved since the page last heard. It carries
no heading's table: the page fetches again those it has drawn (care_record/headings.py), so an
update reads only the summary's headings' items and never inserts a heading not yet opened.
"""

import datetime
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack

from django.conf import settings
from django.db import DatabaseError
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from access.exceptions import AccessDenied
from access.policy import Actor
from access.web import actor_from_request
from audit.exceptions import AuditUnavailable
from audit.models import Channel
from care_record.headings import EVERY_HEADING, SUMMARY_CATEGORIES, TIMELINE
from care_record.reading import CategoryView, LookEnded, RecordView, read_record
from care_record.summary import summary_of
from care_record.timeline import TIMELINE_CATEGORIES, timeline_of
from records import live
from records.fetching import SourceState
from records.models import Patient

logger = logging.getLogger(__name__)

# A save committed a moment after a later one was read can carry the earlier time: a page's
# cursor is taken back this far, and a heading sent twice is only swapped in twice.
CURSOR_MARGIN = datetime.timedelta(seconds=1)
LOOK_ENDED = "These updates have stopped. Open the record again to see the latest."


def cursor_of(moment: datetime.datetime | None) -> str:
    """A moment as the page carries it (seconds since the epoch)."""
    return f"{moment.timestamp():.6f}" if moment else ""


def _moment(cursor: str | None) -> datetime.datetime | None:
    try:
        seconds = float(cursor or "")
    except ValueError:
        return None
    if not 0 < seconds < 1e11:  # not a moment (inf, nan, negative) or nowhere near now
        return None
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)


def _said(category: CategoryView) -> tuple:
    """What a heading says of its sources: it changes with a save, and also when a deadline
    passes with nothing saved (a lost fetch now reads "Timed out")."""
    return tuple((part.source.pk, part.state, str(part.words or "")) for part in category.sources)


class _Changes:
    """Which headings to send: those saved since the page's cursor, then, within one stream,
    those saved again or whose sources' state reads differently since they were last sent."""

    def __init__(self, after: datetime.datetime | None) -> None:
        self.after = after - CURSOR_MARGIN if after else None
        self.sent: dict[str, tuple] = {}

    def of(self, record: RecordView) -> list[str]:
        changed = []
        for category in record.categories:
            saved = category.updated_at
            now_said = (saved, _said(category))
            if category.category in self.sent:
                if self.sent[category.category] != now_said:
                    changed.append(category.category)
            elif saved is not None and (self.after is None or saved > self.after):
                changed.append(category.category)
            elif self.after is not None and any(
                part.state == SourceState.UNAVAILABLE for part in category.sources
            ):
                # Perhaps timed out since the cursor, by its deadline, not by a save: the page
                # may still say "Asking" there. (A poll, or a stream's first read, remembers
                # nothing it sent.)
                changed.append(category.category)
            self.sent[category.category] = now_said
        return changed


def _wait_seconds(record: RecordView) -> float:
    """How long a stream may wait for news: no longer than the first deadline still ahead, so
    that a source whose worker was lost reads "Timed out" by its deadline, not a heartbeat later."""
    wait = settings.LCR_LIVE_HEARTBEAT_SECONDS
    deadline = record.next_deadline
    if deadline is not None and record.read_at is not None:
        wait = min(wait, max((deadline - record.read_at).total_seconds() + 0.05, 0.05))
    return wait


def record_context(record: RecordView, heading: str = EVERY_HEADING) -> dict:
    """What the record page and its updates are drawn from: the look, its summary, the heading
    open, and the timeline when its headings were read."""
    timeline_read = all(
        view.loaded for view in record.categories if view.category in TIMELINE_CATEGORIES
    )
    return {
        "record": record,
        "patient": record.patient,
        "summary": summary_of(record),
        "timeline": timeline_of(record) if timeline_read else None,
        "heading": heading,
        "EVERY_HEADING": EVERY_HEADING,
        "TIMELINE": TIMELINE,
    }


def changed_headings(record: RecordView, changed: list[str] | None) -> list[str]:
    """The headings (and the timeline) an update says changed: a page fetches again those it
    has drawn. `changed` None means every one."""
    names = [view.category for view in record.categories]
    if changed is not None:
        names = [name for name in names if name in changed]
    if any(name in TIMELINE_CATEGORIES for name in names):
        names.append(TIMELINE)
    return names


def render_update(request: HttpRequest, record: RecordView, changed: list[str] | None) -> str:
    """The parts of the record page an update replaces; `changed` None means every heading."""
    context = {
        **record_context(record),
        "changed": changed,
        "changed_headings": changed_headings(record, changed),
    }
    return render_to_string("care_record/_record_update.html", context, request=request)


def _event(name: str, data: str, event_id: str = "") -> str:
    lines = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return (f"id: {event_id}\n" if event_id else "") + f"event: {name}\n{lines}\n"


class _Stream:
    """The response's body, which also ends the subscription when the server closes it (even if
    the body was never read)."""

    def __init__(self, chunks: Iterator[str], close: Callable[[], None]) -> None:
        self.chunks = chunks
        self._close = close

    def __iter__(self) -> Iterator[str]:
        return self.chunks

    def close(self) -> None:
        self.chunks.close()
        self._close()


def _stream(
    request: HttpRequest,
    look_id: int,
    reread: Callable[[bool], RecordView],
    record: RecordView,
    changes: _Changes,
    subscription: live.Subscription,
) -> Iterator[str]:
    ends_at = time.monotonic() + settings.LCR_LIVE_STREAM_SECONDS
    yield "retry: 1000\n\n"  # a dropped stream is reopened after a second, not the default three
    while True:
        changed = changes.of(record)
        if changed or not record.loading:
            html = render_update(request, record, changed)
            yield _event("update", html, cursor_of(record.read_at))
        if not record.loading:
            yield _event("settled", "")
            return
        if time.monotonic() >= ends_at:
            return  # the page reconnects, from the cursor of the last update it received
        news = subscription.wait(_wait_seconds(record))
        if not news:
            yield ": still waiting\n\n"  # a closed page is noticed when this cannot be written
        try:
            # Without news, the read may ask again for what is due (a lost fetch, past its lease).
            record = reread(not news)
        except (AccessDenied, LookEnded):
            yield _event("ended", LOOK_ENDED)
            return
        except (DatabaseError, AuditUnavailable):
            # The page reconnects and reads again; a stream is no place for an error page.
            logger.warning(
                "look %s: could not read the record for an update", look_id, exc_info=True
            )
            return


@never_cache
@require_GET
def record_updates(request: HttpRequest, patient_id: int) -> HttpResponse:
    """What changed in an open look (`look`, its access event) since `after` (or Last-Event-ID):
    a stream of server-sent events when asked for one (text/event-stream), otherwise one answer
    for the page's fallback poll (its state in the X-Record-Cursor and X-Record-Settled headers).
    """
    try:
        look_id = int(request.GET.get("look", ""))
    except ValueError:
        return HttpResponseBadRequest("Say which look these updates are for.")
    actor = actor_from_request(request)
    patient = get_object_or_404(Patient.objects.current(), pk=patient_id)
    after = _moment(request.headers.get("Last-Event-ID") or request.GET.get("after"))

    def reread(refresh: bool) -> RecordView:
        return _read_look(actor, patient, look_id, refresh)

    streaming = "text/event-stream" in request.headers.get("Accept", "")
    resources = ExitStack()
    subscription = resources.enter_context(live.subscribe(patient.pk)) if streaming else None
    try:
        record = reread(False)
    except LookEnded:
        resources.close()
        return HttpResponse(LOOK_ENDED, status=410, content_type="text/plain; charset=utf-8")
    except BaseException:
        resources.close()
        raise
    changes = _Changes(after)
    if streaming:
        chunks = _stream(request, look_id, reread, record, changes, subscription)
        response = StreamingHttpResponse(_Stream(chunks, resources.close))
        response["Content-Type"] = "text/event-stream"
        response["X-Accel-Buffering"] = "no"  # a proxy must pass each event on at once
        return response
    changed = changes.of(record)
    body = render_update(request, record, changed) if changed or not record.loading else ""
    response = HttpResponse(body)
    response["X-Record-Cursor"] = cursor_of(record.read_at)
    response["X-Record-Settled"] = "0" if record.loading else "1"
    return response


def _read_look(actor: Actor, patient: Patient, look_id: int, refresh: bool) -> RecordView:
    return read_record(
        actor=actor,
        patient=patient,
        channel=Channel.WEB,
        refresh=refresh,
        look_id=look_id,
        items_of=SUMMARY_CATEGORIES,
    )
