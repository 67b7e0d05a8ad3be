"""The FHIR search client against a real HTTP server that misbehaves in ways a source might."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from records.fetching import response_limits
from records.sources.errors import MalformedResponse, SourceUnavailable
from records.sources.fhir_client import FhirClient

pytestmark = pytest.mark.integration


class Answers(BaseHTTPRequestHandler):
    """Serves whatever the test put in `server.answers[path]`: (status, headers, body)."""

    def do_GET(self) -> None:
        status, headers, body = self.server.answers[self.path.split("?")[0]]
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body if isinstance(body, bytes) else json.dumps(body).encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    httpd.answers = {}
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/fhir"
    yield httpd
    httpd.shutdown()


def searchset(*resources, next_url=None) -> dict:
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    bundle["entry"] = [{"resource": resource} for resource in resources]
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def test_a_next_link_to_another_host_is_refused(server):
    server.answers["/fhir/Patient"] = (
        200,
        {},
        searchset(
            {"resourceType": "Patient", "id": "1"}, next_url="http://elsewhere.invalid/fhir/P"
        ),
    )
    client = FhirClient(server.base_url, timeout=2, limits=response_limits())
    with pytest.raises(MalformedResponse, match="next link leaves the source"):
        list(client.search("Patient", {}))


def test_a_redirect_is_not_followed(server):
    server.answers["/fhir/Patient"] = (302, {"Location": "http://elsewhere.invalid/"}, b"")
    with pytest.raises(MalformedResponse, match="refused"):
        list(FhirClient(server.base_url, timeout=2, limits=response_limits()).search("Patient", {}))


def test_retry_after_is_read_from_a_429(server):
    server.answers["/fhir/Patient"] = (429, {"Retry-After": "12"}, b"slow down")
    with pytest.raises(SourceUnavailable) as caught:
        list(FhirClient(server.base_url, timeout=2, limits=response_limits()).search("Patient", {}))
    assert caught.value.retry_after == 12


@pytest.mark.parametrize(
    "body",
    [
        [1, 2, 3],
        {"resourceType": "Patient", "id": "1"},
        {"resourceType": "Bundle", "type": "searchset", "entry": "lots"},
        {"resourceType": "Bundle", "type": "searchset", "entry": [{"fullUrl": "x"}]},
    ],
)
def test_an_answer_that_is_not_a_search_result_is_refused(server, body):
    server.answers["/fhir/Patient"] = (200, {}, body)
    with pytest.raises(MalformedResponse):
        list(FhirClient(server.base_url, timeout=2, limits=response_limits()).search("Patient", {}))
