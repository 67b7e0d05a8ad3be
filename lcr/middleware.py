"""Turn access refusals into the plain not-found page, in one place, so no view can leak more;
a look that cannot be recorded into a plain "not available" page; refuse, before anything
reads it, a request holding a character no database can store; and keep every answer to a
signed-in person out of every cache."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from access.exceptions import AccessDenied
from audit.exceptions import AuditUnavailable
from partner_api.responses import error_response
from records.limits import unstorable_character


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


class RefuseUnstorableCharacters:
    """A request with a character no database here can store (NUL; see records.limits) in its
    address, query, form fields, file names or headers is refused whole with 400, before anything
    reads it. Otherwise each lookup and write would meet it in its own way: PostgreSQL's DataError
    (a 500) in an admin list filter, a session cookie or the token endpoint, and on SQLite the
    value stored as it is. JSON bodies are the API serializers' to judge, CSV files the import's.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = _unstorable_in(request)
        if found is None:
            return self.get_response(request)
        where, character = found
        message = f"The request's {where} holds a character that cannot be stored ({character})."
        if request.path.startswith("/api/"):
            return error_response(request, 400, "invalid", f"{message} Nothing was done.")
        return render(request, "400.html", {"message": message}, status=400)


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _unstorable_in(request: HttpRequest) -> tuple[str, str] | None:
    """Where in the request the first unstorable character is, and which it is; or None."""
    headers = [
        text
        for key, value in request.META.items()
        if key.startswith("HTTP_") or key == "CONTENT_TYPE"
        for text in (key, value)
        if isinstance(text, str)
    ]
    parts = {"address": [request.path_info], "headers": headers, "query": _texts(request.GET)}
    if request.method == "POST" and request.content_type in _FORM_TYPES:
        files = [upload.name or "" for upload in request.FILES.values()]
        parts["form"] = _texts(request.POST) + files
    for where, texts in parts.items():
        for text in texts:
            character = unstorable_character(text)
            if character is not None:
                return where, character
    return None


def _texts(data) -> list[str]:
    return [text for key, values in data.lists() for text in (key, *values)]


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
