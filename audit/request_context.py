"""Where a look came from, read once from the web request for its access event.

A request has one id, whichever look, search or log line asks for it (the log lines carry it
too, lcr/log_context.py): the X-Request-ID a proxy in front set, if it is a plain token, else one
made here; kept on the request, so the second ask gets the same.
"""

import re
import uuid

from django.http import HttpRequest

from audit.services import RequestContext

_ATTRIBUTE = "lcr_request_id"
# What a proxy's request id looks like (nginx's $request_id, a UUID, a trace id): anything else
# (spaces, quotes, control characters, a name) is not taken into the trail or the logs.
_PLAIN_TOKEN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_of(request: HttpRequest) -> str:
    known = getattr(request, _ATTRIBUTE, None)
    if known is None:
        given = request.headers.get("X-Request-ID", "")
        known = given if _PLAIN_TOKEN.fullmatch(given) else uuid.uuid4().hex
        setattr(request, _ATTRIBUTE, known)
    return known


def context_from_request(request: HttpRequest) -> RequestContext:
    return RequestContext(
        ip_address=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.headers.get("User-Agent", "")[:300],
        request_id=request_id_of(request),
    )
