"""Which request a log line belongs to: the request id its access event carries, the user's id
(never their name), the view, put on every log record written while the request is served.

`ObserveRequests` (lcr/request_observation.py) binds a request here when it starts, until the
response is closed; the logging filter `RequestContextFilter`, set on the handlers in
settings.LOGGING, copies the fields onto each record, whichever logger (the apps', Django's, a
library's) wrote it. Lines written outside a request carry "-", and in a Celery worker the task's
name and id. The JSON formatter is python-json-logger's.
"""

import contextvars
import logging
from dataclasses import dataclass

from celery import current_task
from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils.functional import empty
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

NONE = "-"
# Attributes a log record may carry that a line never shows (see JsonLines).
NEVER_WRITTEN = ("request", "server_time")


@dataclass
class RequestFields:
    request_id: str
    request: HttpRequest


_current: contextvars.ContextVar[RequestFields | None] = contextvars.ContextVar(
    "lcr_request_fields", default=None
)


def bind(request: HttpRequest, request_id: str) -> None:
    """From now until the response is closed, this thread's log records belong to this request."""
    _current.set(RequestFields(request_id=request_id, request=request))


@receiver(request_finished)
def unbind_at_request_end(**kwargs: object) -> None:
    """The response is closed (Django's own log line of a 4xx or 5xx written): what this thread
    logs next belongs to no request, until the next binds."""
    _current.set(None)


def user_id_of(request: HttpRequest) -> str:
    """The signed-in user's id, read only if something has already read the user: the filter
    must never make a query itself (it would log, and the log would ask again)."""
    user = request.__dict__.get("user")
    wrapped = getattr(user, "_wrapped", user)
    if user is None or wrapped is empty:
        return NONE
    pk = getattr(wrapped, "pk", None)
    return NONE if pk is None else str(pk)


def view_name_of(request: HttpRequest) -> str:
    """The URL's name (namespaced, as "admin:records_patient_change"), never its path: paths
    hold ids. "<unresolved>" before resolving, or when no route matched."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "<unresolved>"
    return match.view_name or "<unnamed>"


class RequestContextFilter(logging.Filter):
    """Adds request_id, user_id and view to every record (NONE outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        fields = _current.get()
        if fields is None:
            record.request_id = getattr(record, "request_id", NONE)
            record.user_id = getattr(record, "user_id", NONE)
            record.view = getattr(record, "view", NONE)
            task = current_task
            if task and getattr(task.request, "id", None):
                # In a Celery worker: which task wrote it (tasks carry ids only).
                record.task = task.name
                record.task_id = task.request.id
        else:
            record.request_id = fields.request_id
            record.user_id = user_id_of(fields.request)
            record.view = view_name_of(fields.request)
        return True


class JsonLines(JsonFormatter):
    """One JSON object a line: time (ISO 8601, UTC), level, logger, message and the request's
    fields, plus whatever `extra` a call gave (status, duration_ms on the request's own line)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("fmt", "%(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        # Django's request and server logs pass the request (or socket) itself as `extra`: its
        # repr is the full path with the query, and a search's query is an NHS number.
        kwargs.setdefault("reserved_attrs", [*RESERVED_ATTRS, *NEVER_WRITTEN])
        super().__init__(*args, **kwargs)
