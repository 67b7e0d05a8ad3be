"""Where a look came from, read once from the web request for its access event."""

import uuid

from django.http import HttpRequest

from audit.services import RequestContext


def context_from_request(request: HttpRequest) -> RequestContext:
    request_id = request.headers.get("X-Request-ID", "")[:64] or uuid.uuid4().hex
    return RequestContext(
        ip_address=request.META.get("REMOTE_ADDR") or None,
        user_agent=request.headers.get("User-Agent", "")[:300],
        request_id=request_id,
    )
