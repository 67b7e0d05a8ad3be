"""Turn access refusals into the plain not-found page, in one place, so no view can leak more;
and a look that cannot be recorded into a plain "not available" page."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from access.exceptions import AccessDenied
from audit.exceptions import AuditUnavailable


class AccessDeniedAsNotFound:
    """A record someone may not see looks exactly like a record that does not exist."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, AccessDenied):
            return render(request, "404.html", status=404)
        if isinstance(exception, AuditUnavailable):
            # Fail closed: a look that cannot be recorded is not shown.
            return render(request, "503.html", status=503)
        return None
