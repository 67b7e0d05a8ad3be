"""Every request, observed in one place: its id, its log context, its latency by view, and one
log line when it is answered.

First in settings.MIDDLEWARE, so that it times and tags everything the request goes through.
The request id is the one the request's access event carries (audit.request_context): a log line
and an event of one request can be put side by side. It is sent back as X-Request-ID.
"""

import logging
import time

from django.http import HttpRequest, HttpResponse

from audit.request_context import request_id_of
from lcr import log_context
from lcr.metrics import request_finished

logger = logging.getLogger("lcr.requests")


class ObserveRequests:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        request_id = request_id_of(request)
        # Bound until the response is closed (log_context.unbind_at_request_end), not only while
        # the middleware runs: Django logs a 4xx or 5xx ("Not Found: ...") after it.
        log_context.bind(request, request_id)
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        view = log_context.view_name_of(request)
        request_finished(
            view=view, method=request.method or "", status=response.status_code, seconds=seconds
        )
        response.headers.setdefault("X-Request-ID", request_id)
        # The method, the view's name and the status: never the path or the query, which can
        # hold an NHS number (a search) or other ids.
        logger.info(
            "%s %s %s",
            request.method,
            view,
            response.status_code,
            extra={"status": response.status_code, "duration_ms": round(seconds * 1000, 1)},
        )
        return response
