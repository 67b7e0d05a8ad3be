"""A small FHIR R4 search client: GET a search, follow `Bundle.link[next]`, fail in plain words.

Each page is checked to be a searchset Bundle before any of its entries is handed on, so callers
never act on half of a broken answer without knowing; and each answer is read within the limits
of records.sources.limits (size, nesting, length of text, characters), or refused whole.
"""

import logging
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin

import requests

from records.sources.errors import MalformedResponse, SourceError, SourceUnavailable
from records.sources.limits import ACCEPT_ENCODING, ResponseLimits, parse_json, read_body

logger = logging.getLogger(__name__)

FHIR_JSON = "application/fhir+json"
MAX_PAGES = 10_000


@dataclass(frozen=True)
class SearchPage:
    """One page of a search: its resources, the source's count of all matches if it gave one
    (`Bundle.total`), and whether another page follows. `included`: the entries the source sent
    as context (`search.mode` "include"), not as matches; `full_urls`: every entry's resource by
    its `fullUrl`, so that a reference to another entry (`urn:uuid:...`) can be followed."""

    resources: list[dict]
    total: int | None
    has_next: bool
    included: list[dict] = field(default_factory=list)
    full_urls: dict[str, dict] = field(default_factory=dict)


class FhirClient:
    """Searches one source's FHIR base URL with a per-request timeout and an overall deadline.

    Error details name what went wrong (status, field, type) but never echo the source's content,
    since they are logged and the content may be clinical.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        limits: ResponseLimits,
        deadline: float | None = None,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/") + "/"
        self.timeout = timeout
        self.limits = limits
        self.deadline = deadline  # time.monotonic() by which every request must be done
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Accept": FHIR_JSON,
                "Accept-Encoding": ACCEPT_ENCODING,
                "User-Agent": "lcr-shared-care-record",
            }
        )

    def search(self, resource_type: str, params: dict[str, str]) -> Iterator[dict]:
        """Yield every resource of a search, page by page; raise SourceError on any bad page."""
        for page in self.search_pages(resource_type, params):
            yield from page.resources

    def search_pages(self, resource_type: str, params: dict[str, str]) -> Iterator[SearchPage]:
        """Yield a search's pages one by one (a caller may stop early); SourceError on a bad one."""
        url: str | None = urljoin(self.base_url, resource_type)
        query: dict[str, str] | None = params
        for _ in range(MAX_PAGES):
            if url is None:
                return
            bundle = self.get_json(url, params=query)
            page, url = _read_searchset(bundle)
            if url is not None and not url.startswith(self.base_url):
                # Never follow a source to another host: its credentials must not travel there.
                raise MalformedResponse(
                    "search result's next link leaves the source", detail=without_queries(url)
                )
            query = None  # next links carry their own query
            yield page
        raise MalformedResponse("too many pages", detail=f"more than {MAX_PAGES} pages")

    def get_json(self, url: str, *, params: dict[str, str] | None = None) -> dict:
        response = self.get_response(url, params=params)
        with response:  # the body is read as it comes (or not at all), then the connection let go
            return self._read(response, where=url.split("?", 1)[0])

    def get_response(
        self,
        url: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """A GET within this client's timeout and what is left of its budget, not redirected,
        its body not read yet (stream): the caller reads it within the limits, then closes it."""
        timeout = self.timeout
        if self.deadline is not None:
            timeout = min(timeout, self.deadline - time.monotonic())
            if timeout <= 0:
                raise SourceUnavailable("timed out", detail="the source's time budget ran out")
        with unavailable_when_unanswered():
            return self.session.get(
                url,
                params=params,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )

    def _read(self, response: requests.Response, *, where: str) -> dict:
        # `where` has no query: the query names the patient, and it is logged.
        refused = refusal_of(response, where=where)
        if refused is not None:
            raise refused
        content = read_body(response, self.limits, deadline=self.deadline, where=where)
        body = parse_json(content, self.limits, where=where)
        if not isinstance(body, dict):
            raise MalformedResponse("response is not a FHIR resource", detail=type(body).__name__)
        return body


def _read_searchset(bundle: dict) -> tuple[SearchPage, str | None]:
    """Check the shape of one search page; return it and the next page's URL."""
    if bundle.get("resourceType") != "Bundle" or bundle.get("type") != "searchset":
        raise MalformedResponse(
            "response is not a search result",
            detail=f"resourceType={bundle.get('resourceType')!r} type={bundle.get('type')!r}",
        )
    entries = bundle.get("entry", [])
    links = bundle.get("link", [])
    if not isinstance(entries, list) or not isinstance(links, list):
        raise MalformedResponse("search result has the wrong shape", detail="entry/link not lists")
    resources, included, full_urls = [], [], {}
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise MalformedResponse("search result entry has no resource")
        search = entry.get("search")
        mode = search.get("mode") if isinstance(search, dict) else None
        (included if mode == "include" else resources).append(resource)
        if isinstance(entry.get("fullUrl"), str):
            full_urls[entry["fullUrl"]] = resource
    next_url = None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            next_url = link.get("url")
            if not isinstance(next_url, str) or not next_url:
                raise MalformedResponse("search result has a broken next link")
    total = bundle.get("total")
    page = SearchPage(
        resources=resources,
        total=total if isinstance(total, int) and not isinstance(total, bool) else None,
        has_next=next_url is not None,
        included=included,
        full_urls=full_urls,
    )
    return page, next_url


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date; anything else is ignored."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def refusal_of(response: requests.Response, *, where: str) -> SourceError | None:
    """What an answer's error status says, in the reader's words (None for a success): too many
    requests and server errors are worth asking again; any other refusal is not."""
    status = response.status_code
    if status == 429:
        return SourceUnavailable(
            "too many requests",
            detail=f"HTTP 429 from {where}",
            retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        )
    if status >= 500:
        return SourceUnavailable(f"server error {status}", detail=f"HTTP {status} from {where}")
    if status >= 300:
        return MalformedResponse(
            f"request refused ({status})", detail=f"HTTP {status} from {where}"
        )
    return None


# A URL's query, wherever it is in a text: requests' errors name the URL they were asked, and a
# search's query names the patient (patient:identifier=...|<NHS number>).
_QUERY = re.compile(r"\?[^\s'\")]*")


def without_queries(text: str) -> str:
    """The text with every URL's query left out: what a source's error may say in the log."""
    return _QUERY.sub("?…", text)


@contextmanager
def unavailable_when_unanswered() -> Iterator[None]:
    """A request that got no answer (timed out, no connection, anything else requests raises)
    as SourceUnavailable with its reason, for every kind of source; the detail (logged) never
    holds the request's query."""
    try:
        yield
    except requests.Timeout as exc:
        raise SourceUnavailable("timed out", detail=without_queries(str(exc))) from exc
    except requests.ConnectionError as exc:
        raise SourceUnavailable("could not connect", detail=without_queries(str(exc))) from exc
    except requests.RequestException as exc:
        raise SourceUnavailable("request failed", detail=without_queries(str(exc))) from exc
