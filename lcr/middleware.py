"""Turn access refusals into the plain not-found page, in one place, so no view can leak more;
a look that cannot be recorded into a plain "not available" page; and keep every answer to a
signed-in person out of every cache."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

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


class NeverCacheSignedIn:
    """Every response to someone signed in is sent `Cache-Control: no-store` (with Django's
    never_cache headers): any page may name a patient or show what this person may do, and a
    shared or back-button cache must not keep it. Views that say so themselves are left alone."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The person the session names, kept before the view runs: DRF's views put their own
        # user on the request (none at all on the API's documentation pages).
        person = request.user
        response = self.get_response(request)
        signed_in = getattr(person, "is_authenticated", False)
        if signed_in and "no-store" not in response.get("Cache-Control", ""):
            add_never_cache_headers(response)
        return response
